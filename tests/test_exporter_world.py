"""A real `pulse-tui exporter` process on a simulated world (gateway simulator + redis-server), over HTTP.

Also the helpers the Prometheus and contrib tests share: `world_env`, `ExporterProcess`, `scrape`.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pulse_tui.demo import DEMO_API_KEY, DEMO_KEY, RESTORED_IDS, DemoWorld, start_world


def make_world() -> DemoWorld:
    """A quiet world: nothing moves unless a test moves it; both restored sessions connect within a second."""
    return start_world(drive=False, auto_scan_s=None, restore_interval_s=0.3, browsers=False)


def world_env(world: DemoWorld) -> dict[str, str]:
    """The environment that points `pulse-tui` at this world, as an operator's .env would."""
    c = world.config
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_"))}
    env.update(
        PULSE_TUI_GATEWAY="salesboy",
        PULSE_TUI_GATEWAY_URL=c.gateway_url,
        API_SECRET_KEY=c.api_key or "",
        PULSE_TUI_AUTH_DIR=",".join(str(p) for p in c.auth_dirs),
        REDIS_URL=c.redis_url or "",
        ENCRYPTION_KEY=c.encryption_key or "",
        ENCRYPTION_SALT=c.encryption_salt or "",
        HASH_SALT=c.hash_salt or "",
        PULSE_TUI_LOGS=",".join(c.log_globs),
        PULSE_TUI_PM2_APP="pulse-tui-test-no-such-app",
        XDG_STATE_HOME=str(world.root / "state"),
    )
    return env


@dataclass
class ExporterProcess:
    proc: subprocess.Popen[str]
    url: str  # http://127.0.0.1:PORT

    @classmethod
    def start(cls, env: dict[str, str], *extra: str) -> ExporterProcess:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pulse_tui", "exporter", "--listen", "127.0.0.1:0", "--interval", "1", *extra],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "serving" not in line:
            proc.kill()
            raise AssertionError(f"exporter did not start: {line}{proc.stderr.read()}")
        return cls(proc, line.split()[-1].removesuffix("/metrics"))

    def stop(self) -> tuple[int, str]:
        """SIGTERM; its exit code and the rest of its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("exporter did not exit on SIGTERM") from None
        return self.proc.returncode, err


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name -> {sorted labels: value} from one /metrics scrape."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `check` until it holds (a deadline, not a timing assertion: slow machines only wait longer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def session_state(samples: dict[str, dict[tuple[tuple[str, str], ...], float]], session: str, state: str) -> float | None:
    return samples.get("pulse_session_state", {}).get((("session", session), ("state", state)))


@pytest.fixture(scope="module")
def world() -> Iterator[DemoWorld]:
    w = make_world()
    yield w
    w.close()


@pytest.fixture(scope="module")
def exporter(world: DemoWorld) -> Iterator[ExporterProcess]:
    exp = ExporterProcess.start(world_env(world))
    yield exp
    exp.stop()


def both_connected(url: str) -> bool:
    samples = scrape(url)
    return all(session_state(samples, sid, "connected") == 1.0 for sid in RESTORED_IDS)


def test_metrics_follow_the_world(world: DemoWorld, exporter: ExporterProcess) -> None:
    wait_for(lambda: both_connected(exporter.url), "both restored sessions connected")
    samples = scrape(exporter.url)
    assert samples["pulse_gateway_up"][()] == 1.0
    assert samples["pulse_gateway_info"][(("kind", "salesboy"), ("version", "unknown"))] == 1.0
    for sid in RESTORED_IDS:  # one 1 per session, every other state 0
        states = {dict(k)["state"]: v for k, v in samples["pulse_session_state"].items() if dict(k)["session"] == sid}
        assert states["connected"] == 1.0 and sum(states.values()) == 1.0, states
    assert samples["pulse_sessions"][(("state", "connected"),)] >= 2
    wait_for(lambda: "pulse_user_sessions" in scrape(exporter.url), "the first Redis inspection")
    users = scrape(exporter.url)["pulse_user_sessions"]
    assert users[(("class", "default-key"),)] >= 1  # the demo seeds one of every class
    assert users[(("class", "ok"),)] >= 1
    assert scrape(exporter.url)["pulse_redis_up"][()] == 1.0

    # A drop in the gateway reaches the exporter through the log follower, without a status request.
    world.sim.disconnect(RESTORED_IDS[0], "NAVIGATION")
    wait_for(lambda: session_state(scrape(exporter.url), RESTORED_IDS[0], "connected") == 0.0, "the drop")
    after = scrape(exporter.url)
    assert session_state(after, RESTORED_IDS[1], "connected") == 1.0
    moves = {dict(k)["to"]: v for k, v in after["pulse_session_transitions_total"].items()
             if dict(k)["session"] == RESTORED_IDS[0]}
    assert sum(v for to, v in moves.items() if to != "connected") >= 1, moves


def test_no_phone_number_or_secret_in_a_scrape(exporter: ExporterProcess) -> None:
    wait_for(lambda: "pulse_user_sessions" in scrape(exporter.url), "the first Redis inspection")
    text = httpx.get(f"{exporter.url}/metrics").text
    assert DEMO_API_KEY not in text and DEMO_KEY not in text
    for name, series in scrape(exporter.url).items():
        for labels in series:
            for key, value in labels:
                assert not (key != "session" and value.isdigit() and len(value) >= 8), (name, key, value)
                assert "@c.us" not in value and "@s.whatsapp.net" not in value, (name, value)


def test_healthz_and_unknown_paths(exporter: ExporterProcess) -> None:
    wait_for(lambda: httpx.get(f"{exporter.url}/healthz").status_code == 200, "a healthy /healthz")
    assert httpx.get(f"{exporter.url}/healthz").text.startswith("ok")
    assert httpx.get(f"{exporter.url}/nope").status_code == 404


def test_sigterm_exits_cleanly_and_frees_the_port(world: DemoWorld) -> None:
    exp = ExporterProcess.start(world_env(world))
    wait_for(lambda: httpx.get(f"{exp.url}/healthz").status_code == 200, "a first poll")
    code, err = exp.stop()
    assert code == 0, err
    assert "Traceback" not in err
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{exp.url}/metrics", timeout=2)


def test_bad_listen_is_one_sentence_and_exit_2(world: DemoWorld) -> None:
    for flag, bad in (("--listen", "nonsense"), ("--listen", "127.0.0.1:99999"), ("--listen", "example.com:9464"),
                      ("--interval", "0")):
        r = subprocess.run([sys.executable, "-m", "pulse_tui", "exporter", flag, bad],
                           env=world_env(world), capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (bad, r.stderr)
        assert flag in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_unreadable_certificate_is_one_sentence(world: DemoWorld, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pulse_tui", "exporter", "--listen", "127.0.0.1:0", "--tls-cert",
                        str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "missing.key")],
                       env=world_env(world), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--tls-cert" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_port_in_use_is_one_sentence(world: DemoWorld, exporter: ExporterProcess) -> None:
    taken = exporter.url.removeprefix("http://")
    r = subprocess.run([sys.executable, "-m", "pulse_tui", "exporter", "--listen", taken],
                       env=world_env(world), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "in use" in r.stderr.lower() and "Traceback" not in r.stderr


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (cryptography's x509 builder), as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_with_a_certificate(world: DemoWorld, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    exp = ExporterProcess.start(world_env(world), "--tls-cert", str(cert), "--tls-key", str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        assert exp.url.startswith("https://")
        wait_for(lambda: "pulse_gateway_up" in httpx.get(f"{exp.url}/metrics", verify=trust).text,
                 "a first poll over HTTPS")
        with pytest.raises(httpx.HTTPError):
            httpx.get(exp.url.replace("https://", "http://") + "/metrics", timeout=5)
        # A peer that connects and never speaks must not stall the other scrapes.
        host, port = exp.url.removeprefix("https://").rsplit(":", 1)
        with socket.create_connection((host, int(port))):
            assert httpx.get(f"{exp.url}/metrics", verify=trust, timeout=10).status_code == 200
    finally:
        code, err = exp.stop()
    assert code == 0, err
