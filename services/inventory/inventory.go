// Package inventory is an example resource service: an in-memory inventory
// API whose protection comes entirely from pkg/authn and the rules in its
// proto. A platform team's service would look the same with a real store.
package inventory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strings"
	"sync"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	maxItems   = 10_000
	maxNameLen = 200
)

// Service implements InventoryService over memory. Safe for concurrent use.
type Service struct {
	inventoryv1.UnimplementedInventoryServiceServer

	mu    sync.RWMutex
	items map[string]*inventoryv1.Item
	now   func() time.Time
}

// New returns an empty inventory.
func New() *Service {
	return &Service{items: make(map[string]*inventoryv1.Item), now: time.Now}
}

var _ inventoryv1.InventoryServiceServer = (*Service)(nil)

// ListItems implements InventoryService.
func (s *Service) ListItems(context.Context, *inventoryv1.ListItemsRequest) (*inventoryv1.ListItemsResponse, error) {
	s.mu.RLock()
	out := make([]*inventoryv1.Item, 0, len(s.items))
	for _, it := range s.items {
		out = append(out, proto.Clone(it).(*inventoryv1.Item))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].GetUpdateTime().AsTime(), out[j].GetUpdateTime().AsTime()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].GetId() < out[j].GetId()
	})
	return &inventoryv1.ListItemsResponse{Items: out}, nil
}

// GetItem implements InventoryService.
func (s *Service) GetItem(_ context.Context, req *inventoryv1.GetItemRequest) (*inventoryv1.GetItemResponse, error) {
	s.mu.RLock()
	it, ok := s.items[req.GetId()]
	s.mu.RUnlock()
	if !ok {
		return nil, status.Error(codes.NotFound, "no such item")
	}
	return &inventoryv1.GetItemResponse{Item: proto.Clone(it).(*inventoryv1.Item)}, nil
}

// CreateItem implements InventoryService.
func (s *Service) CreateItem(ctx context.Context, req *inventoryv1.CreateItemRequest) (*inventoryv1.CreateItemResponse, error) {
	if err := validate(req.GetItem()); err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	it := &inventoryv1.Item{
		Id:         "item_" + hex.EncodeToString(b[:]),
		Name:       req.GetItem().GetName(),
		Quantity:   req.GetItem().GetQuantity(),
		UpdatedBy:  caller(ctx),
		UpdateTime: timestamppb.New(s.now()),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) >= maxItems {
		return nil, status.Error(codes.ResourceExhausted, "the example inventory is full")
	}
	s.items[it.GetId()] = it
	return &inventoryv1.CreateItemResponse{Item: proto.Clone(it).(*inventoryv1.Item)}, nil
}

// UpdateItem implements InventoryService.
func (s *Service) UpdateItem(ctx context.Context, req *inventoryv1.UpdateItemRequest) (*inventoryv1.UpdateItemResponse, error) {
	if err := validate(req.GetItem()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[req.GetItem().GetId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such item")
	}
	it.Name, it.Quantity = req.GetItem().GetName(), req.GetItem().GetQuantity()
	it.UpdatedBy, it.UpdateTime = caller(ctx), timestamppb.New(s.now())
	return &inventoryv1.UpdateItemResponse{Item: proto.Clone(it).(*inventoryv1.Item)}, nil
}

func validate(it *inventoryv1.Item) error {
	if strings.TrimSpace(it.GetName()) == "" || len(it.GetName()) > maxNameLen {
		return status.Errorf(codes.InvalidArgument, "item.name: required, at most %d characters", maxNameLen)
	}
	if it.GetQuantity() < 0 {
		return status.Error(codes.InvalidArgument, "item.quantity: must not be negative")
	}
	return nil
}

// caller is the authenticated client, which the interceptor guarantees.
func caller(ctx context.Context) string {
	if p, ok := authn.FromContext(ctx); ok {
		return p.ClientID
	}
	return ""
}
