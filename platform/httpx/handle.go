package httpx

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"todo/platform/apperr"
)

// HandlerFunc is a handler that returns its error instead of writing it.
type HandlerFunc func(*gin.Context) error

// Handle adapts a HandlerFunc to Gin: a returned error is written by
// WriteError, so every failure becomes the contract's problem+json.
func Handle(h HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Checked here, after authentication, so that 401 wins over 413.
		if c.Request.ContentLength > MaxBody {
			WriteError(c, apperr.ErrTooLarge)
			return
		}
		if err := h(c); err != nil {
			WriteError(c, err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
