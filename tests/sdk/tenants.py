"""The Docker SDK for Python as a client confined to a tenant, run by
tests/tenants.rs: it runs, lists, execs into and removes its own
containers as usual, and another tenant's container is missing to it.
Exits non-zero on the first surprise.
"""

import os
import sys

import docker


def main():
    certs = os.environ["CERTS"]
    tls = docker.tls.TLSConfig(
        client_cert=(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem")),
        ca_cert=os.environ["CA"],
        verify=True,
    )
    client = docker.DockerClient(base_url=os.environ["GATEWAY"], tls=tls)
    image, name, other = os.environ["IMAGE"], os.environ["NAME"], os.environ["OTHER"]

    out = client.containers.run(image, "echo confined", remove=True)
    if out.strip() != b"confined":
        sys.exit("run printed %r" % out)
    container = client.containers.run(image, "sleep 600", name=name, detach=True)
    if container.labels.get("dockgate.tenant") != "team-a":
        sys.exit("labels %r" % container.labels)
    code, output = container.exec_run("echo inside")
    if code != 0 or output.strip() != b"inside":
        sys.exit("exec_run gave %r %r" % (code, output))
    names = [c.name for c in client.containers.list(all=True)]
    if name not in names or other in names:
        sys.exit("list shows %r" % names)
    try:
        client.containers.get(other)
        sys.exit("another tenant's container was found")
    except docker.errors.NotFound as error:
        if "No such container" not in str(error):
            sys.exit("unexpected error %s" % error)
    volume = client.volumes.create(name + "-vol")
    if volume.attrs["Labels"].get("dockgate.tenant") != "team-a":
        sys.exit("volume labels %r" % volume.attrs["Labels"])
    if name + "-vol" not in [v.name for v in client.volumes.list()]:
        sys.exit("own volume not listed")
    volume.remove()
    container.remove(force=True)
    # Other tests of the same tenant run at the same time: prune only what
    # this one made (the client's filter and the tenant's combine).
    leftover = client.containers.create(image, "true", labels={"sdk-test": name})
    pruned = client.containers.prune(filters={"label": "sdk-test=" + name})
    if pruned.get("ContainersDeleted") != [leftover.id]:
        sys.exit("prune removed %r" % pruned)
    print("ok", pruned)


if __name__ == "__main__":
    main()
