"""The Docker SDK for Python running a container with many options through
dockgate, run by tests/known_fields.rs: every field the SDK sends must be one
dockgate knows, so the run must succeed.

Reads the gateway's port, the client certificate folder, the image and the
names to use from the environment; prints `key: value` lines for the Rust
side. Exits non-zero on the first surprise.
"""

import os

import docker


def main():
    cert_path = os.environ["DOCKGATE_CERTS"]
    tls = docker.tls.TLSConfig(
        client_cert=(os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")),
        ca_cert=os.path.join(cert_path, "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(base_url="https://localhost:%s" % os.environ["DOCKGATE_PORT"], tls=tls)
    name = os.environ["DOCKGATE_CONTAINER"]
    network = os.environ["DOCKGATE_NETWORK"]
    container = client.containers.create(
        os.environ["DOCKGATE_IMAGE"],
        ["sh", "-c", "echo $GREETING; cat /etc/hostname"],
        name=name,
        hostname="sdk-host",
        user="1000:1000",
        working_dir="/tmp",
        environment={"GREETING": "hello"},
        labels={"dockgate.test": "sdk"},
        ports={"80/tcp": ("127.0.0.1", None)},
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
        healthcheck={"test": ["CMD", "true"], "interval": 1000000000, "timeout": 1000000000, "retries": 3, "start_period": 1000000000},
        tmpfs={"/scratch": "size=1m"},
        ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048)],
        mem_limit="64m",
        memswap_limit="128m",
        cpu_shares=512,
        pids_limit=64,
        log_config=docker.types.LogConfig(type="json-file", config={"max-size": "1m", "max-file": "2"}),
        dns=["9.9.9.9"],
        dns_search=["example.org"],
        extra_hosts={"db": "10.0.0.5"},
        init=True,
        read_only=True,
        stop_signal="SIGTERM",
        cap_drop=["NET_RAW"],
        security_opt=["no-new-privileges"],
        shm_size="8m",
        oom_score_adj=100,
        network=network,
        networking_config={network: client.api.create_endpoint_config(aliases=["sdk-alias"])},
        mounts=[docker.types.Mount("/data", None, type="volume"), docker.types.Mount("/cache", None, type="tmpfs", tmpfs_size=1048576)],
    )
    container.start()
    status = container.wait(timeout=60)
    print("exit: %s" % status["StatusCode"])
    print("logs: %r" % container.logs())
    container.update(mem_limit="96m", memswap_limit="192m", cpu_shares=256, restart_policy={"Name": "no"})
    print("updated: %s" % container.attrs["Id"][:12])
    container.remove(v=True)


main()
