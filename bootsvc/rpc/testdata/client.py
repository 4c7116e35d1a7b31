"""An independent client of labctl's boot-service API: Debian's grpcio with
stubs protoc generated from the project's .proto files (on PYTHONPATH).

usage: client.py ADDRESS CA CERT KEY
Puts a profile and a group over mutual TLS, reads them back, prints "ok".
"""
import json
import sys

import grpc

from rpcpb import rpc_pb2_grpc
from serverpb import messages_pb2
from storagepb import storage_pb2


def main():
    address, ca, cert, key = sys.argv[1:5]
    creds = grpc.ssl_channel_credentials(
        root_certificates=open(ca, "rb").read(),
        private_key=open(key, "rb").read(),
        certificate_chain=open(cert, "rb").read(),
    )
    with grpc.secure_channel(address, creds) as channel:
        profiles = rpc_pb2_grpc.ProfilesStub(channel)
        groups = rpc_pb2_grpc.GroupsStub(channel)
        profiles.ProfilePut(messages_pb2.ProfilePutRequest(profile=storage_pb2.Profile(
            id="py-profile",
            name="from Python",
            boot=storage_pb2.NetBoot(kernel="/assets/py-kernel", initrd=["/assets/py-initrd"], args=["console=ttyS0", "py=1"]),
        )), timeout=10)
        groups.GroupPut(messages_pb2.GroupPutRequest(group=storage_pb2.Group(
            id="py-group",
            profile="py-profile",
            selector={"mac": "52:54:00:00:00:99"},
            metadata=json.dumps({"from": "python"}).encode(),
        )), timeout=10)
        got = groups.GroupGet(messages_pb2.GroupGetRequest(id="py-group"), timeout=10).group
        assert got.profile == "py-profile", got
        assert json.loads(got.metadata) == {"from": "python"}, got.metadata
        try:
            groups.GroupPut(messages_pb2.GroupPutRequest(group=storage_pb2.Group(id="py-bad")), timeout=10)
            raise SystemExit("an invalid group was accepted")
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.INVALID_ARGUMENT or "field profile is empty" not in e.details():
                raise SystemExit("invalid group: got %s %r" % (e.code(), e.details()))
    print("ok")


if __name__ == "__main__":
    main()
