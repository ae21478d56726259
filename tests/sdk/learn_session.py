"""A short Docker SDK for Python session through dockgate, run by
tests/policy_learn.rs: recorded in audit mode, then replayed under the
policy learned from its log. Exits non-zero on the first surprise.
"""

import os

import docker


def main():
    certs = os.environ["DOCKGATE_CERTS"]
    tls = docker.tls.TLSConfig(
        client_cert=(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem")),
        ca_cert=os.path.join(certs, "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(base_url="https://localhost:%s" % os.environ["DOCKGATE_PORT"], tls=tls)
    image = os.environ["DOCKGATE_IMAGE"]
    assert client.ping()
    client.images.get(image)
    out = client.containers.run(image, "echo sdk", remove=True, name=os.environ["DOCKGATE_CONTAINER"])
    assert out == b"sdk\n", out
    client.containers.list(all=True)
    print("sdk: ok")


main()
