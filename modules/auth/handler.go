package auth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"todo/platform/httpx"
)

// handler is the module's HTTP layer: bind, call the service, write.
type handler struct {
	svc  *Service
	bind *httpx.Binder
}

func (h *handler) register(c *gin.Context) error {
	var req registerRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	pair, err := h.svc.Register(c.Request.Context(), RegisterInput{
		Email:     req.Email,
		Name:      req.Name,
		Password:  req.Password,
		ClientIP:  c.ClientIP(),
		UserAgent: c.Request.UserAgent(),
	})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	writePrivate(c, http.StatusCreated, toTokenPairResponse(pair))
	return nil
}

func (h *handler) login(c *gin.Context) error {
	var req loginRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	pair, err := h.svc.Login(c.Request.Context(), LoginInput{
		Email:     req.Email,
		Password:  req.Password,
		ClientIP:  c.ClientIP(),
		UserAgent: c.Request.UserAgent(),
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	writePrivate(c, http.StatusOK, toTokenPairResponse(pair))
	return nil
}

func (h *handler) refresh(c *gin.Context) error {
	var req refreshRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	pair, err := h.svc.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	writePrivate(c, http.StatusOK, toTokenPairResponse(pair))
	return nil
}

func (h *handler) logout(c *gin.Context) error {
	var req refreshRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.Logout(c.Request.Context(), req.RefreshToken); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *handler) me(c *gin.Context) error {
	u, err := h.svc.Me(c.Request.Context(), httpx.MustPrincipal(c).UserID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	writePrivate(c, http.StatusOK, toUserResponse(u))
	return nil
}

func (h *handler) rename(c *gin.Context) error {
	var req updateUserRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	p := httpx.MustPrincipal(c)
	ctx, userID := c.Request.Context(), p.UserID
	var (
		u   User
		err error
	)
	if req.Name.Present() && p.External {
		// The next token would bring the issuer's name back.
		return ErrExternalAccount.WithDetail("the name of an external account comes from its identity provider; change it there")
	}
	if req.Name.Present() {
		u, err = h.svc.Rename(ctx, userID, req.Name.Value)
	} else {
		u, err = h.svc.Me(ctx, userID)
	}
	if err != nil {
		return fmt.Errorf("rename user: %w", err)
	}
	writePrivate(c, http.StatusOK, toUserResponse(u))
	return nil
}

func (h *handler) changePassword(c *gin.Context) error {
	if httpx.MustPrincipal(c).External {
		return ErrExternalAccount.WithDetail("an external account has no password here; change it at the identity provider")
	}
	var req changePasswordRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.ChangePassword(c.Request.Context(), httpx.MustPrincipal(c), c.ClientIP(), req.CurrentPassword, req.NewPassword); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *handler) deleteAccount(c *gin.Context) error {
	if p := httpx.MustPrincipal(c); p.External {
		return h.deleteExternalAccount(c, p)
	}
	var req deleteUserRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.DeleteAccount(c.Request.Context(), httpx.MustPrincipal(c), c.ClientIP(), req.Password); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// deleteExternalAccount deletes an external account, which has no password
// here: a body is optional, and a password in it is ignored.
func (h *handler) deleteExternalAccount(c *gin.Context, p httpx.Principal) error {
	if c.Request.ContentLength != 0 {
		var req externalDeleteRequest
		if err := h.bind.Decode(c, &req); err != nil {
			return err
		}
	}
	if err := h.svc.DeleteExternalAccount(c.Request.Context(), p); err != nil {
		return fmt.Errorf("delete external account: %w", err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *handler) sessions(c *gin.Context) error {
	p := httpx.MustPrincipal(c)
	if p.External { // its sessions are the issuer's
		writePrivate(c, http.StatusOK, toSessionListResponse(nil, ""))
		return nil
	}
	list, err := h.svc.Sessions(c.Request.Context(), p.UserID)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	writePrivate(c, http.StatusOK, toSessionListResponse(list, p.SessionID))
	return nil
}

func (h *handler) revokeSession(c *gin.Context) error {
	if httpx.MustPrincipal(c).External { // it has no session here
		return ErrSessionNotFound
	}
	if err := h.svc.RevokeSession(c.Request.Context(), httpx.MustPrincipal(c).UserID, c.Param("id")); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *handler) requestVerification(c *gin.Context) error {
	if err := h.svc.RequestVerification(c.Request.Context(), httpx.MustPrincipal(c)); err != nil {
		return fmt.Errorf("request verification: %w", err)
	}
	writeAccepted(c)
	return nil
}

func (h *handler) verifyEmail(c *gin.Context) error {
	var req tokenRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	u, err := h.svc.VerifyEmail(c.Request.Context(), req.Token)
	if err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	writePrivate(c, http.StatusOK, toUserResponse(u))
	return nil
}

func (h *handler) requestPasswordReset(c *gin.Context) error {
	var req resetRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.RequestPasswordReset(c.Request.Context(), req.Email, c.ClientIP()); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	writeAccepted(c)
	return nil
}

func (h *handler) resetPassword(c *gin.Context) error {
	var req resetConfirmRequest
	if err := h.bind.JSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.ResetPassword(c.Request.Context(), req.Token, req.NewPassword, c.ClientIP()); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// acceptedResponse is the one body of every 202: what was asked is under
// way, and nothing more (a reset request says the same for every email).
type acceptedResponse struct {
	Status string `json:"status"`
}

func writeAccepted(c *gin.Context) {
	writePrivate(c, http.StatusAccepted, acceptedResponse{Status: "accepted"})
}

// writePrivate writes a response holding tokens or account data, which no
// cache may keep.
func writePrivate(c *gin.Context, status int, v any) {
	c.Header("Cache-Control", "no-store")
	httpx.JSON(c, status, v)
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != "" && !strings.ContainsAny(token, " \t")
}
