// Package rpc serves the boot service's data over matchbox's gRPC API
// (Groups, Profiles, Ignition, Generic, Select) with mutual TLS, so that
// matchbox's clients (bootcmd, terraform-provider-matchbox) drive labctl.
package rpc

//go:generate make -C ../.. proto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc/rpcpb"
)

// Store is the data the API reads and writes (*bootsvc.Server).
type Store interface {
	Groups() []bootsvc.Group
	Group(id string) (bootsvc.Group, error)
	PutGroup(g bootsvc.Group, metadata []byte) error
	DeleteGroup(id string) error
	Profiles() []bootsvc.Profile
	Profile(id string) (bootsvc.Profile, error)
	PutProfile(p bootsvc.Profile) error
	DeleteProfile(id string) error
	Template(kind, name string) ([]byte, error)
	PutTemplate(kind, name string, data []byte) error
	DeleteTemplate(kind, name string) error
	SelectGroup(labels map[string]string) (bootsvc.Group, error)
	SelectProfile(labels map[string]string) (bootsvc.Profile, error)
}

// Server is the gRPC face of a Store.
type Server struct {
	grpc *grpc.Server
	log  *slog.Logger
}

// New makes the API server; tf says how to load its TLS material, and there
// is no plaintext mode.
func New(store Store, tf TLSFiles, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	conf, err := tf.ServerConfig()
	if err != nil {
		return nil, fmt.Errorf("API %w", err)
	}
	s := &Server{log: log}
	s.grpc = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(conf)),
		grpc.ChainUnaryInterceptor(s.logCall),
		grpc.ConnectionTimeout(10*time.Second), // a handshake that stalls
	)
	rpcpb.RegisterGroupsServer(s.grpc, groups{store: store})
	rpcpb.RegisterProfilesServer(s.grpc, profiles{store: store})
	rpcpb.RegisterIgnitionServer(s.grpc, ignition{store: store})
	rpcpb.RegisterGenericServer(s.grpc, generic{store: store})
	rpcpb.RegisterSelectServer(s.grpc, selector{store: store})
	return s, nil
}

// Serve answers on ln until ctx ends, then stops gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve API on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		s.grpc.Stop()
	}
	<-errc
	return nil
}

// logCall logs each call with the client certificate's subject: every
// client that can write is one the CA signed, so who did what matters.
func (s *Server) logCall(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "api call", "method", info.FullMethod, "code", status.Code(err).String(),
		"took", time.Since(start), "client", clientName(ctx), "err", errText(err))
	return resp, err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return status.Convert(err).Message()
}

// grpcError maps the store's errors to status codes with the reason as the
// message (matchbox answers Unknown for all but "no match").
func grpcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bootsvc.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, bootsvc.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, bootsvc.ErrDataDir):
		return status.Error(codes.FailedPrecondition, err.Error())
	default:
		return status.Error(codes.Internal, err.Error())
	}
}

func missing(field string) error {
	return status.Errorf(codes.InvalidArgument, "request has no %s", field)
}
