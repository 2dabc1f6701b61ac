package server

import (
	"net/http"

	"github.com/dvpc/dvpc/internal/errors"
)

type deviceJSON struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Created  string  `json:"created"`
	LastSeen string  `json:"last_seen"`
	Revoked  *string `json:"revoked"`
	Current  bool    `json:"current"`
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request, ses *session) error {
	devs, err := s.db.Devices(r.Context(), ses.account.ID)
	if err != nil {
		return err
	}
	out := struct {
		Devices []deviceJSON `json:"devices"`
	}{Devices: make([]deviceJSON, 0, len(devs))}
	for _, d := range devs {
		j := deviceJSON{ID: d.ID, Name: d.Name, Created: timeJSON(d.Created), LastSeen: timeJSON(d.LastSeen),
			Current: d.ID == ses.device.ID}
		if !d.Revoked.IsZero() {
			t := timeJSON(d.Revoked)
			j.Revoked = &t
		}
		out.Devices = append(out.Devices, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revoke revokes a device of the token's account; its token fails with
// device_revoked from the next request on.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, ses *session, id string) error {
	if !isHexID(id) {
		return invalid("a device id is 32 lower-case hex digits")
	}
	if err := s.db.Revoke(r.Context(), ses.account.ID, id, s.cfg.Now()); err != nil {
		if errors.Is(err, errors.NotExist) {
			return refuse(codeNotFound, "no such device")
		}
		return err
	}
	s.log.Info("device revoked", append(logAttrs(r, ses.account.User), "device", id, "by", ses.device.ID)...)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
