package gateway

import (
	"encoding/base64"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// noneKey is the key that lets golang-jwt produce an unsigned ("alg": "none") token.
var noneKey = jwt.UnsafeAllowNoneSignatureType

// jwtWithMethod returns an unsigned token of c for the algorithm alg, with the test key ID.
func jwtWithMethod(alg string, c authtoken.Claims) *jwt.Token {
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	t.Header["kid"] = testKID
	return t
}

// jwtDate returns t as a JWT time claim.
func jwtDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

// b64 encodes b the way JWT segments are.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// noLog returns a logger that writes nothing.
func noLog() *slog.Logger { return logging.Discard() }

// value returns the current value of a counter or gauge.
func value(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		panic(err)
	}
	if c := out.GetCounter(); c != nil {
		return c.GetValue()
	}
	return out.GetGauge().GetValue()
}
