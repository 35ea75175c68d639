package users

import (
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
)

// profileText is one text claim of the profile (OpenID Connect Core 1.0
// §5.1) as the API carries it: its name, which is also its update-mask
// path and, prefixed with "user." on update, the field of its refusals;
// how it is checked; and where it is read and kept.
type profileText struct {
	name       string
	normalize  func(field, v string) (string, error)
	fromCreate func(*usersv1.CreateUserRequest) string
	fromUser   func(*usersv1.User) string
	set        func(*User, string)
}

// profileTexts are the profile's text claims, in the order the API lists
// them. email_verified, a boolean, needs no checking and is handled beside
// them.
var profileTexts = []profileText{
	{
		name: "name", normalize: normalizeName,
		fromCreate: (*usersv1.CreateUserRequest).GetName, fromUser: (*usersv1.User).GetName,
		set: func(u *User, v string) { u.Name = v },
	},
	{
		name: "given_name", normalize: normalizeName,
		fromCreate: (*usersv1.CreateUserRequest).GetGivenName, fromUser: (*usersv1.User).GetGivenName,
		set: func(u *User, v string) { u.GivenName = v },
	},
	{
		name: "family_name", normalize: normalizeName,
		fromCreate: (*usersv1.CreateUserRequest).GetFamilyName, fromUser: (*usersv1.User).GetFamilyName,
		set: func(u *User, v string) { u.FamilyName = v },
	},
	{
		name: "preferred_username", normalize: normalizePreferredUsername,
		fromCreate: (*usersv1.CreateUserRequest).GetPreferredUsername, fromUser: (*usersv1.User).GetPreferredUsername,
		set: func(u *User, v string) { u.PreferredUsername = v },
	},
	{
		name: "locale", normalize: normalizeLocale,
		fromCreate: (*usersv1.CreateUserRequest).GetLocale, fromUser: (*usersv1.User).GetLocale,
		set: func(u *User, v string) { u.Locale = v },
	},
}

// lookupProfileText returns the text claim whose update-mask path is path.
func lookupProfileText(path string) (profileText, bool) {
	for _, p := range profileTexts {
		if p.name == path {
			return p, true
		}
	}
	return profileText{}, false
}
