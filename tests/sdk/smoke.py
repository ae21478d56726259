"""The Docker SDK for Python through dockgate, run by tests/python_sdk.rs.

Reads the gateway's port, the client certificate folders and the names to
use from the environment, and prints one `key: value` line per check for
the Rust side to assert on. Exits non-zero on the first surprise.
"""

import os
import sys

import docker


def client_for(cert_path):
    tls = docker.tls.TLSConfig(
        client_cert=(os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")),
        ca_cert=os.path.join(cert_path, "ca.pem"),
        verify=True,
    )
    return docker.DockerClient(base_url="https://localhost:%s" % os.environ["DOCKGATE_PORT"], tls=tls)


def refusal(call):
    """The APIError a refused call raises, as `status explanation`."""
    try:
        call()
    except docker.errors.APIError as error:
        return "%s %s" % (error.status_code, error.explanation)
    sys.exit("the call was not refused")


def main():
    image = os.environ["DOCKGATE_IMAGE"]
    name = os.environ["DOCKGATE_CONTAINER"]
    admin = client_for(os.environ["DOCKGATE_ADMIN_CERTS"])
    viewer = client_for(os.environ["DOCKGATE_VIEWER_CERTS"])

    print("ping: %s" % admin.ping())
    print("version: %s" % admin.version()["Version"])
    print("run: %r" % admin.containers.run(image, "echo sdk", remove=True, name=name + "-echo"))
    print("viewer-list: %s" % isinstance(viewer.containers.list(all=True), list))
    print(
        "privileged: %s"
        % refusal(lambda: admin.containers.run(image, "true", privileged=True, remove=True, name=name + "-privileged"))
    )
    print("viewer-run: %s" % refusal(lambda: viewer.containers.run(image, "true", remove=True, name=name + "-viewer")))


if __name__ == "__main__":
    main()
