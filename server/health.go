package server

import (
	"context"
	"log/slog"

	"github.com/sentstub/sentstub/gen"
)

// GetHealthz implements GET /healthz: the process serves.
func (s *Server) GetHealthz(ctx context.Context, _ gen.GetHealthzRequestObject) (gen.GetHealthzResponseObject, error) {
	return gen.GetHealthz200JSONResponse{Status: gen.Ok}, nil
}

// GetReadyz implements GET /readyz: the database answers within the
// store's timeout, as every call must.
func (s *Server) GetReadyz(ctx context.Context, _ gen.GetReadyzRequestObject) (gen.GetReadyzResponseObject, error) {
	if err := s.store.Ping(ctx); err != nil {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "not ready", slog.String("request_id", requestFromContext(ctx).id), slog.Any("error", err))
		return gen.GetReadyz503JSONResponse{Status: gen.Unavailable}, nil
	}
	return gen.GetReadyz200JSONResponse{Status: gen.Ok}, nil
}
