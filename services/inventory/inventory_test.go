package inventory

import (
	"context"
	"testing"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestInventory(t *testing.T) {
	s := New()
	ctx := authn.NewContext(context.Background(), &authn.Principal{ClientID: "c_partner"})
	created, err := s.CreateItem(ctx, &inventoryv1.CreateItemRequest{Item: &inventoryv1.Item{Name: "widget", Quantity: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetItem().GetUpdatedBy() != "c_partner" || created.GetItem().GetId() == "" {
		t.Fatalf("created %v", created.GetItem())
	}
	tests := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"get", func() error {
			_, err := s.GetItem(ctx, &inventoryv1.GetItemRequest{Id: created.GetItem().GetId()})
			return err
		}, codes.OK},
		{"get unknown", func() error { _, err := s.GetItem(ctx, &inventoryv1.GetItemRequest{Id: "nope"}); return err }, codes.NotFound},
		{"create without name", func() error {
			_, err := s.CreateItem(ctx, &inventoryv1.CreateItemRequest{Item: &inventoryv1.Item{Quantity: 1}})
			return err
		}, codes.InvalidArgument},
		{"negative quantity", func() error {
			_, err := s.UpdateItem(ctx, &inventoryv1.UpdateItemRequest{Item: &inventoryv1.Item{Id: created.GetItem().GetId(), Name: "w", Quantity: -1}})
			return err
		}, codes.InvalidArgument},
		{"update", func() error {
			_, err := s.UpdateItem(ctx, &inventoryv1.UpdateItemRequest{Item: &inventoryv1.Item{Id: created.GetItem().GetId(), Name: "widget", Quantity: 7}})
			return err
		}, codes.OK},
		{"update unknown", func() error {
			_, err := s.UpdateItem(ctx, &inventoryv1.UpdateItemRequest{Item: &inventoryv1.Item{Id: "nope", Name: "w"}})
			return err
		}, codes.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.code {
				t.Fatalf("code %v, want %v", got, tc.code)
			}
		})
	}
	list, err := s.ListItems(ctx, &inventoryv1.ListItemsRequest{})
	if err != nil || len(list.GetItems()) != 1 || list.GetItems()[0].GetQuantity() != 7 {
		t.Fatalf("list: %v %v", list, err)
	}
}
