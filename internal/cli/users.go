package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

type userService = usersv1.UserServiceClient

// users returns the UserService client, connecting first.
func (s *session) users() (userService, error) {
	conn, err := s.connect()
	if err != nil {
		return nil, err
	}
	return usersv1.NewUserServiceClient(conn), nil
}

// invokeUsers makes one UserService call with the --timeout deadline.
func invokeUsers[T any](ctx context.Context, s *session, what string, call func(context.Context, userService) (T, error)) (T, error) {
	return invokeOn(ctx, s, what, (*session).users, call)
}

func usersGroup() *group {
	return &group{
		name:    "users",
		summary: "manage user accounts (first-party sign-in)",
		commands: []*command{
			{
				name: "create", synopsis: "--email E --password-stdin [--name N] [--given-name N] [--family-name N] [--preferred-username U] [--locale L] [--email-verified]",
				summary: "create a user; the password is read from the first line of stdin",
				setup:   usersCreate,
			},
			{name: "get", args: []string{"ID"}, summary: "show one user", setup: usersGet},
			{name: "list", synopsis: "[--page-size N] [--page-token T] [--all]", summary: "list users, oldest first", setup: usersList},
			{
				name: "update", args: []string{"ID"},
				synopsis: "[--email E] [--name N] [--given-name N] [--family-name N] [--preferred-username U] [--locale L] [--email-verified=true|false] [--disabled=true|false]",
				summary:  "change the fields given as flags, and only those (an empty value clears a profile field)",
				setup:    usersUpdate,
			},
			{
				name: "disable", args: []string{"ID"},
				summary: "stop a user from signing in and revoke every token issued to it until now",
				setup:   usersSetDisabled(true),
			},
			{name: "enable", args: []string{"ID"}, summary: "let a disabled user sign in again", setup: usersSetDisabled(false)},
			{
				name: "set-password", args: []string{"ID"}, synopsis: "--password-stdin",
				summary: "replace a user's password with the first line of stdin",
				setup:   usersSetPassword,
			},
		},
	}
}

// maxPasswordInput bounds what readPassword reads; the server refuses
// passwords longer than 1024 bytes anyway.
const maxPasswordInput = 64 << 10

func passwordStdinFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("password-stdin", false, "read the password from the first line of stdin, e.g. printf '%s\\n' \"$PW\" | gatehouse users ... (required; 12 to 1024 bytes)")
}

// readPassword reads the first line of stdin without its line ending. The
// password never appears in output or in error messages.
func readPassword(cmd string, set bool, stdin io.Reader) (string, error) {
	if !set {
		return "", fmt.Errorf("%s: --password-stdin is required: pipe the password in, it is never taken from the command line (run 'gatehouse %s -h')", cmd, cmd)
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordInput+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%s: read the password from stdin: %w", cmd, err)
	}
	if len(line) > maxPasswordInput {
		return "", fmt.Errorf("%s: the password on stdin is longer than %d bytes", cmd, maxPasswordInput)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s: no password on stdin: the first line is empty", cmd)
	}
	return line, nil
}

// profileFlags are the OpenID Connect profile claims of a user as flags.
type profileFlags struct {
	name, givenName, familyName, preferredUsername, locale *string
	emailVerified                                          *bool
}

// register adds the profile flags to fs; on update an empty value clears
// the field.
func (p *profileFlags) register(fs *flag.FlagSet) {
	p.name = fs.String("name", "", "full `name` in displayable form (OpenID Connect name claim; at most 200 bytes)")
	p.givenName = fs.String("given-name", "", "given or first `name`(s) (given_name claim; at most 200 bytes)")
	p.familyName = fs.String("family-name", "", "surname(s) or last `name`(s) (family_name claim; at most 200 bytes)")
	p.preferredUsername = fs.String("preferred-username", "", "shorthand `name` without white space (preferred_username claim; at most 128 bytes; not unique, not used to sign in)")
	p.locale = fs.String("locale", "", "BCP 47 language `tag` such as en-US or fr-CA (locale claim)")
	p.emailVerified = fs.Bool("email-verified", false, "vouch that the email address is the user's (email_verified claim): Gatehouse has no email-verification flow, only an admin sets it")
}

// userUpdateFields maps users update flags to update_mask paths, in mask
// order.
var userUpdateFields = []struct{ path, flag string }{
	{"email", "email"},
	{"name", "name"},
	{"given_name", "given-name"},
	{"family_name", "family-name"},
	{"preferred_username", "preferred-username"},
	{"locale", "locale"},
	{"email_verified", "email-verified"},
	{"disabled", "disabled"},
}

func usersCreate(fs *flag.FlagSet) action {
	email := fs.String("email", "", "the user's email `address`, used to sign in (required)")
	pwStdin := passwordStdinFlag(fs)
	var p profileFlags
	p.register(fs)
	return func(ctx context.Context, s *session, _ []string) error {
		if strings.TrimSpace(*email) == "" {
			return errors.New("users create: --email is required (run 'gatehouse users create -h')")
		}
		pw, err := readPassword("users create", *pwStdin, s.stdin)
		if err != nil {
			return err
		}
		resp, err := invokeUsers(ctx, s, "create user "+*email, func(ctx context.Context, us userService) (*usersv1.CreateUserResponse, error) {
			return us.CreateUser(ctx, &usersv1.CreateUserRequest{
				Email: *email, Password: pw,
				Name: *p.name, GivenName: *p.givenName, FamilyName: *p.familyName,
				PreferredUsername: *p.preferredUsername, Locale: *p.locale, EmailVerified: *p.emailVerified,
			})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetUser())
		}
		fmt.Fprintf(s.stdout, "Created user %s.\n", clean(resp.GetUser().GetUserId()))
		userKV(resp.GetUser()).write(s.stdout)
		return nil
	}
}

func usersGet(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		id := args[0]
		resp, err := invokeUsers(ctx, s, "user "+id, func(ctx context.Context, us userService) (*usersv1.GetUserResponse, error) {
			return us.GetUser(ctx, &usersv1.GetUserRequest{UserId: id})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetUser())
		}
		userKV(resp.GetUser()).write(s.stdout)
		return nil
	}
}

func usersList(fs *flag.FlagSet) action {
	size := fs.Int("page-size", 0, "users per page, 1 to 500 (default 100)")
	token := fs.String("page-token", "", "next_page_token of the previous page")
	all := fs.Bool("all", false, "fetch every page")
	return func(ctx context.Context, s *session, _ []string) error {
		var list []*usersv1.User
		tok, next := *token, ""
		seen := map[string]bool{}
		for {
			resp, err := invokeUsers(ctx, s, "list users", func(ctx context.Context, us userService) (*usersv1.ListUsersResponse, error) {
				return us.ListUsers(ctx, &usersv1.ListUsersRequest{PageSize: int32(*size), PageToken: tok}) //nolint:gosec // the server checks the range
			})
			if err != nil {
				return err
			}
			list = append(list, resp.GetUsers()...)
			next = resp.GetNextPageToken()
			if !*all || next == "" {
				break
			}
			if seen[next] {
				return errors.New("list users: the server returned the same page token twice")
			}
			seen[next], tok = true, next
		}
		if s.jsonOutput() {
			items, err := jsonItems(list)
			if err != nil {
				return err
			}
			out := map[string]any{"users": items}
			if next != "" {
				out["next_page_token"] = next
			}
			return s.printJSONValue(out)
		}
		if len(list) == 0 {
			fmt.Fprintln(s.stdout, "No users.")
		} else {
			t := newTable(s.stdout, "USER_ID", "EMAIL", "STATUS", "CREATED")
			for _, u := range list {
				t.row(clean(u.GetUserId()), clean(u.GetEmail()), userStatus(u), timeText(u.GetCreateTime()))
			}
			t.flush()
		}
		if next != "" {
			more := "gatehouse users list --page-token " + next
			if *size != 0 {
				more += fmt.Sprintf(" --page-size %d", *size)
			}
			fmt.Fprintf(s.stdout, "More users: %s (or --all)\n", more)
		}
		return nil
	}
}

func usersUpdate(fs *flag.FlagSet) action {
	email := fs.String("email", "", "new email `address` to sign in with; unless --email-verified is given too, a new address is no longer verified")
	var p profileFlags
	p.register(fs)
	disabled := fs.Bool("disabled", false, "--disabled=true stops the user from signing in and revokes every token issued to it until now; --disabled=false lets it sign in again")
	return func(ctx context.Context, s *session, args []string) error {
		id := args[0]
		set := setFlags(fs)
		var paths, flagNames []string
		for _, f := range userUpdateFields {
			if set[f.flag] {
				paths = append(paths, f.path)
			}
			flagNames = append(flagNames, "--"+f.flag)
		}
		if len(paths) == 0 {
			return fmt.Errorf("users update: nothing to change: give at least one of %s", strings.Join(flagNames, ", "))
		}
		u := &usersv1.User{
			UserId: id, Email: *email, Disabled: *disabled,
			Name: *p.name, GivenName: *p.givenName, FamilyName: *p.familyName,
			PreferredUsername: *p.preferredUsername, Locale: *p.locale, EmailVerified: *p.emailVerified,
		}
		what := "update user " + id
		resp, err := invokeUsers(ctx, s, what, func(ctx context.Context, us userService) (*usersv1.UpdateUserResponse, error) {
			return us.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: u, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		})
		if err != nil {
			return revocationFailed(err, what, id)
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetUser())
		}
		fmt.Fprintf(s.stdout, "Updated user %s (%s).\n", clean(id), strings.Join(paths, ", "))
		userKV(resp.GetUser()).write(s.stdout)
		return nil
	}
}

func usersSetDisabled(disabled bool) func(*flag.FlagSet) action {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			id := args[0]
			what := verb + " user " + id
			resp, err := invokeUsers(ctx, s, what, func(ctx context.Context, us userService) (*usersv1.UpdateUserResponse, error) {
				return us.UpdateUser(ctx, &usersv1.UpdateUserRequest{
					User:       &usersv1.User{UserId: id, Disabled: disabled},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}},
				})
			})
			if err != nil {
				return revocationFailed(err, what, id)
			}
			if s.jsonOutput() {
				return s.printJSON(resp.GetUser())
			}
			if disabled {
				fmt.Fprintf(s.stdout, "Disabled user %s: it cannot sign in, and the tokens issued to it until now are revoked.\n", clean(id))
			} else {
				fmt.Fprintf(s.stdout, "Enabled user %s.\n", clean(id))
			}
			userKV(resp.GetUser()).write(s.stdout)
			return nil
		}
	}
}

// revocationFailed rewrites the one Unavailable that does not mean the
// server is unreachable: the user was disabled but the revocation list
// could not record it. Other errors pass through.
func revocationFailed(err error, what, id string) error {
	var re *rpcError
	if !errors.As(err, &re) {
		return err
	}
	st := status.Convert(re.err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "revocation list") {
		return err
	}
	return fmt.Errorf("%s: the user is disabled, but its tokens could not be revoked (%s): run 'gatehouse users disable %s' again", what, st.Message(), id)
}

func usersSetPassword(fs *flag.FlagSet) action {
	pwStdin := passwordStdinFlag(fs)
	return func(ctx context.Context, s *session, args []string) error {
		id := args[0]
		pw, err := readPassword("users set-password", *pwStdin, s.stdin)
		if err != nil {
			return err
		}
		resp, err := invokeUsers(ctx, s, "set password of user "+id, func(ctx context.Context, us userService) (*usersv1.SetPasswordResponse, error) {
			return us.SetPassword(ctx, &usersv1.SetPasswordRequest{UserId: id, Password: pw})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetUser())
		}
		fmt.Fprintf(s.stdout, "Set the password of user %s.\n", clean(id))
		userKV(resp.GetUser()).write(s.stdout)
		return nil
	}
}

func userStatus(u *usersv1.User) string {
	if u.GetDisabled() {
		return "disabled"
	}
	return "active"
}

func userKV(u *usersv1.User) *kv {
	k := &kv{}
	k.add("user_id", clean(u.GetUserId()))
	k.add("email", clean(u.GetEmail()))
	k.add("email_verified", strconv.FormatBool(u.GetEmailVerified()))
	k.add("status", userStatus(u))
	k.add("name", orDash(u.GetName()))
	k.add("given_name", orDash(u.GetGivenName()))
	k.add("family_name", orDash(u.GetFamilyName()))
	k.add("preferred_username", orDash(u.GetPreferredUsername()))
	k.add("locale", orDash(u.GetLocale()))
	k.add("create_time", timeText(u.GetCreateTime()))
	k.add("update_time", timeText(u.GetUpdateTime()))
	return k
}
