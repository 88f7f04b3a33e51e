package auth

import (
	"strings"
	"time"
	"unicode/utf8"

	"todo/platform/apperr"
	"todo/platform/httpx"
)

// dbTime is the form every time this module stores or compares takes: UTC,
// truncated to the microsecond PostgreSQL keeps.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// maxUserAgent is the longest User-Agent kept on a session, in characters.
const maxUserAgent = 255

// User is an account, without its password hash.
type User struct {
	ID            string
	Email         string
	Name          string
	IsActive      bool
	EmailVerified bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Session is one login of a user.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
}

// TokenPair is what register, login and refresh hand out.
type TokenPair struct {
	User         User
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
}

type registerRequest struct {
	Email    string `json:"email" validate:"required,min=5,max=255,emailaddr"`
	Name     string `json:"name" validate:"required,max=100"`
	Password string `json:"password" validate:"minbytes=8,maxbytes=72"` // bcrypt reads at most 72 bytes
}

// Normalize trims the email and name and lower-cases the email; the
// password is kept exactly as sent.
func (r *registerRequest) Normalize() {
	r.Email = normalizeEmail(r.Email)
	r.Name = strings.TrimSpace(r.Name)
}

type loginRequest struct {
	Email    string `json:"email" validate:"required,max=255,emailaddr"`
	Password string `json:"password" validate:"required"`
}

// Normalize trims and lower-cases the email.
func (r *loginRequest) Normalize() { r.Email = normalizeEmail(r.Email) }

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required"`
}

type updateUserRequest struct {
	Name httpx.Optional[string] `json:"name"`
}

// Normalize trims the name.
func (r *updateUserRequest) Normalize() {
	if r.Name.Present() {
		r.Name.Value = strings.TrimSpace(r.Name.Value)
	}
}

// Check enforces the name's rules: absent is unchanged, null is not allowed,
// otherwise 1–100 characters once trimmed.
func (r *updateUserRequest) Check() []apperr.FieldError {
	switch {
	case r.Name.Set && r.Name.Null:
		return []apperr.FieldError{{Field: "name", Message: "must not be null"}}
	case r.Name.Set && r.Name.Value == "":
		return []apperr.FieldError{{Field: "name", Message: "must not be empty"}}
	case r.Name.Set && utf8.RuneCountInString(r.Name.Value) > 100:
		return []apperr.FieldError{{Field: "name", Message: "must be at most 100 characters"}}
	}
	return nil
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password" validate:"required"`
	NewPassword     string `json:"new_password" validate:"minbytes=8,maxbytes=72"`
}

type tokenRequest struct {
	Token string `json:"token" validate:"required,max=255"`
}

type resetRequest struct {
	Email string `json:"email" validate:"required,max=255,emailaddr"`
}

// Normalize trims and lower-cases the email.
func (r *resetRequest) Normalize() { r.Email = normalizeEmail(r.Email) }

type resetConfirmRequest struct {
	Token       string `json:"token" validate:"required,max=255"`
	NewPassword string `json:"new_password" validate:"minbytes=8,maxbytes=72"`
}

type deleteUserRequest struct {
	Password string `json:"password" validate:"required"`
}

// externalDeleteRequest is the optional body of DELETE /users/me for an
// external account; a password, which such an account has none of here, is
// accepted and ignored, so that one client can serve both kinds.
type externalDeleteRequest struct {
	Password *string `json:"password"`
}

func normalizeEmail(s string) string { return httpx.NormalizeEmail(s) }

// cleanUserAgent makes a User-Agent header storable: valid UTF-8, at most
// maxUserAgent characters.
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "\uFFFD")
	if utf8.RuneCountInString(ua) <= maxUserAgent {
		return ua
	}
	n := 0
	for i := range ua {
		if n == maxUserAgent {
			return ua[:i]
		}
		n++
	}
	return ua
}

type userResponse struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	IsActive      bool   `json:"is_active"`
	EmailVerified bool   `json:"email_verified"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

func toUserResponse(u User) userResponse {
	return userResponse{
		ID:            u.ID,
		Email:         u.Email,
		Name:          u.Name,
		IsActive:      u.IsActive,
		EmailVerified: u.EmailVerified,
		CreatedAt:     httpx.FormatTime(u.CreatedAt),
		UpdatedAt:     httpx.FormatTime(u.UpdatedAt),
	}
}

type tokenPairResponse struct {
	User         userResponse `json:"user"`
	AccessToken  string       `json:"access_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int64        `json:"expires_in"`
	RefreshToken string       `json:"refresh_token"`
}

func toTokenPairResponse(p TokenPair) tokenPairResponse {
	return tokenPairResponse{
		User:         toUserResponse(p.User),
		AccessToken:  p.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int64(p.ExpiresIn / time.Second),
		RefreshToken: p.RefreshToken,
	}
}

type sessionResponse struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	UserAgent  string `json:"user_agent"`
	Current    bool   `json:"current"`
}

type sessionListResponse struct {
	Items []sessionResponse `json:"items"`
}

func toSessionListResponse(sessions []Session, currentID string) sessionListResponse {
	items := make([]sessionResponse, len(sessions))
	for i, s := range sessions {
		items[i] = sessionResponse{
			ID:         s.ID,
			CreatedAt:  httpx.FormatTime(s.CreatedAt),
			LastUsedAt: httpx.FormatTime(s.LastUsedAt),
			ExpiresAt:  httpx.FormatTime(s.ExpiresAt),
			UserAgent:  s.UserAgent,
			Current:    s.ID == currentID,
		}
	}
	return sessionListResponse{Items: items}
}
