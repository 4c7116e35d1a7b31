package rpc

import (
	"context"
	"encoding/json"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc/rpcpb"
	pb "github.com/labctl/labctl/bootsvc/rpc/serverpb"
	"github.com/labctl/labctl/bootsvc/rpc/storagepb"
)

// The five services, each a thin adapter from messages to the Store.

type groups struct {
	rpcpb.UnimplementedGroupsServer
	store Store
}

func (s groups) GroupPut(_ context.Context, req *pb.GroupPutRequest) (*pb.GroupPutResponse, error) {
	g := req.GetGroup()
	if g == nil {
		return nil, missing("group")
	}
	err := s.store.PutGroup(bootsvc.Group{ID: g.Id, Name: g.Name, Profile: g.Profile, Selector: g.Selector}, g.Metadata)
	return &pb.GroupPutResponse{}, grpcError(err)
}

func (s groups) GroupGet(_ context.Context, req *pb.GroupGetRequest) (*pb.GroupGetResponse, error) {
	g, err := s.store.Group(req.GetId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.GroupGetResponse{Group: groupMessage(g)}, nil
}

func (s groups) GroupDelete(_ context.Context, req *pb.GroupDeleteRequest) (*pb.GroupDeleteResponse, error) {
	return &pb.GroupDeleteResponse{}, grpcError(s.store.DeleteGroup(req.GetId()))
}

func (s groups) GroupList(context.Context, *pb.GroupListRequest) (*pb.GroupListResponse, error) {
	resp := &pb.GroupListResponse{}
	for _, g := range s.store.Groups() {
		resp.Groups = append(resp.Groups, groupMessage(g))
	}
	return resp, nil
}

type profiles struct {
	rpcpb.UnimplementedProfilesServer
	store Store
}

func (s profiles) ProfilePut(_ context.Context, req *pb.ProfilePutRequest) (*pb.ProfilePutResponse, error) {
	p := req.GetProfile()
	if p == nil {
		return nil, missing("profile")
	}
	err := s.store.PutProfile(bootsvc.Profile{
		ID: p.Id, Name: p.Name, IgnitionID: p.IgnitionId, CloudID: p.CloudId, GenericID: p.GenericId,
		Boot: bootsvc.Boot{Kernel: p.GetBoot().GetKernel(), Initrd: p.GetBoot().GetInitrd(), Args: p.GetBoot().GetArgs()},
	})
	return &pb.ProfilePutResponse{}, grpcError(err)
}

func (s profiles) ProfileGet(_ context.Context, req *pb.ProfileGetRequest) (*pb.ProfileGetResponse, error) {
	p, err := s.store.Profile(req.GetId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.ProfileGetResponse{Profile: profileMessage(p)}, nil
}

func (s profiles) ProfileDelete(_ context.Context, req *pb.ProfileDeleteRequest) (*pb.ProfileDeleteResponse, error) {
	return &pb.ProfileDeleteResponse{}, grpcError(s.store.DeleteProfile(req.GetId()))
}

func (s profiles) ProfileList(context.Context, *pb.ProfileListRequest) (*pb.ProfileListResponse, error) {
	resp := &pb.ProfileListResponse{}
	for _, p := range s.store.Profiles() {
		resp.Profiles = append(resp.Profiles, profileMessage(p))
	}
	return resp, nil
}

type ignition struct {
	rpcpb.UnimplementedIgnitionServer
	store Store
}

func (s ignition) IgnitionPut(_ context.Context, req *pb.IgnitionPutRequest) (*pb.IgnitionPutResponse, error) {
	return &pb.IgnitionPutResponse{}, grpcError(s.store.PutTemplate("ignition", req.GetName(), req.GetConfig()))
}

func (s ignition) IgnitionGet(_ context.Context, req *pb.IgnitionGetRequest) (*pb.IgnitionGetResponse, error) {
	data, err := s.store.Template("ignition", req.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.IgnitionGetResponse{Config: data}, nil
}

func (s ignition) IgnitionDelete(_ context.Context, req *pb.IgnitionDeleteRequest) (*pb.IgnitionDeleteResponse, error) {
	return &pb.IgnitionDeleteResponse{}, grpcError(s.store.DeleteTemplate("ignition", req.GetName()))
}

type generic struct {
	rpcpb.UnimplementedGenericServer
	store Store
}

func (s generic) GenericPut(_ context.Context, req *pb.GenericPutRequest) (*pb.GenericPutResponse, error) {
	return &pb.GenericPutResponse{}, grpcError(s.store.PutTemplate("generic", req.GetName(), req.GetConfig()))
}

func (s generic) GenericGet(_ context.Context, req *pb.GenericGetRequest) (*pb.GenericGetResponse, error) {
	data, err := s.store.Template("generic", req.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.GenericGetResponse{Config: data}, nil
}

func (s generic) GenericDelete(_ context.Context, req *pb.GenericDeleteRequest) (*pb.GenericDeleteResponse, error) {
	return &pb.GenericDeleteResponse{}, grpcError(s.store.DeleteTemplate("generic", req.GetName()))
}

type selector struct {
	rpcpb.UnimplementedSelectServer
	store Store
}

func (s selector) SelectGroup(_ context.Context, req *pb.SelectGroupRequest) (*pb.SelectGroupResponse, error) {
	g, err := s.store.SelectGroup(req.GetLabels())
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.SelectGroupResponse{Group: groupMessage(g)}, nil
}

func (s selector) SelectProfile(_ context.Context, req *pb.SelectProfileRequest) (*pb.SelectProfileResponse, error) {
	p, err := s.store.SelectProfile(req.GetLabels())
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.SelectProfileResponse{Profile: profileMessage(p)}, nil
}

// groupMessage carries metadata as matchbox does: one JSON object, encoded.
func groupMessage(g bootsvc.Group) *storagepb.Group {
	m := &storagepb.Group{Id: g.ID, Name: g.Name, Profile: g.Profile, Selector: g.Selector}
	if g.Metadata != nil {
		m.Metadata, _ = json.Marshal(g.Metadata) // decoded from JSON, so it encodes
	}
	return m
}

func profileMessage(p bootsvc.Profile) *storagepb.Profile {
	return &storagepb.Profile{
		Id: p.ID, Name: p.Name, IgnitionId: p.IgnitionID, CloudId: p.CloudID, GenericId: p.GenericID,
		Boot: &storagepb.NetBoot{Kernel: p.Boot.Kernel, Initrd: p.Boot.Initrd, Args: p.Boot.Args},
	}
}
