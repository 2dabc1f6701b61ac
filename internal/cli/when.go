package cli

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

var agoRE = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)\s+ago$`)

// parseWhen reads a moment as a person writes it: RFC 3339
// ("2026-11-20T09:00:00Z"), a local date and time ("2026-11-20 09:00",
// "2026-11-20"), "now", "today 14:30", "yesterday 09:00", "yesterday", or
// "2h ago", "90 minutes ago", "3 days ago".
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s)); err == nil {
		return t, nil
	}
	loc := now.Location()
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02t15:04:05", "2006-01-02t15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if s == "now" {
		return now, nil
	}
	if m := agoRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.ParseFloat(m[1], 64)
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[m[2][0]]
		return now.Add(-time.Duration(n * float64(unit))), nil
	}
	day, clock, _ := strings.Cut(s, " ")
	var base time.Time
	y, mo, d := now.Date()
	switch day {
	case "today":
		base = time.Date(y, mo, d, 0, 0, 0, 0, loc)
	case "yesterday":
		base = time.Date(y, mo, d-1, 0, 0, 0, 0, loc)
	default:
		return time.Time{}, badWhen(s)
	}
	if clock == "" {
		return base, nil
	}
	for _, layout := range []string{"15:04:05", "15:04", "15"} {
		if c, err := time.Parse(layout, clock); err == nil {
			return base.Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute())*time.Minute + time.Duration(c.Second())*time.Second), nil
		}
	}
	return time.Time{}, badWhen(s)
}

func badWhen(s string) error {
	return errors.E(errors.Invalid, errors.Str(`cannot read the time "`+s+`": use RFC 3339 (2026-11-20T09:00:00Z), "2026-11-20 09:00", "yesterday 09:00" or "2h ago"`))
}
