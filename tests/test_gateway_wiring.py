"""PULSE_TUI_GATEWAY=waha|evolution end to end: config variables, make_gateway, make_event_channel, the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from pulse_tui.config import ConfigError, GatewayKind, config_from_values
from pulse_tui.events import ChannelState, EventKind
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.waha import WahaSim
from pulse_tui.sources.gateway import EvolutionGateway, WahaGateway, make_event_channel, make_gateway


def test_the_two_kinds_and_their_default_urls() -> None:
    waha = config_from_values({"PULSE_TUI_GATEWAY": "WAHA"})
    evo = config_from_values({"PULSE_TUI_GATEWAY": "evolution"})
    assert (waha.gateway_kind, waha.gateway_url) == (GatewayKind.WAHA, "http://127.0.0.1:3000")
    assert (evo.gateway_kind, evo.gateway_url) == (GatewayKind.EVOLUTION, "http://127.0.0.1:8080")
    assert waha.pm2_app is None and evo.pm2_app is None  # Docker, mostly: no pm2 app unless named
    with pytest.raises(ConfigError) as err:
        config_from_values({"PULSE_TUI_GATEWAY": "wppconnect"})
    assert "PULSE_TUI_GATEWAY" in str(err.value) and "'waha'" in str(err.value) and "'evolution'" in str(err.value)


def test_the_servers_own_key_names_and_pulse_tuis_win() -> None:
    assert config_from_values({"PULSE_TUI_GATEWAY": "waha", "WHATSAPP_API_KEY": "old-key-1"}).waha.api_key == \
        "old-key-1"  # type: ignore[union-attr]
    both = config_from_values({"PULSE_TUI_GATEWAY": "waha", "WAHA_API_KEY": "server-key",
                               "PULSE_TUI_WAHA_API_KEY": "mine-key"})
    assert both.waha is not None and both.waha.api_key == "mine-key"
    evo = config_from_values({"PULSE_TUI_GATEWAY": "evolution", "AUTHENTICATION_API_KEY": "global-key",
                              "PULSE_TUI_EVOLUTION_API_KEY": "instance-token", "DEL_INSTANCE": "5",
                              "WEBSOCKET_ENABLED": "true"})
    assert evo.evolution is not None and evo.evolution.api_key == "instance-token"
    assert evo.evolution.del_instance_min == 5 and evo.evolution.websocket_enabled
    # Every key variable is redacted, whichever gateway is watched (one .env may hold several).
    assert {"server-key", "mine-key"} <= set(both.secret_values())
    assert {"global-key", "instance-token"} <= set(evo.secret_values())
    salesboy = config_from_values({"WAHA_API_KEY": "stray-waha-key"})
    assert "stray-waha-key" in salesboy.secret_values() and salesboy.waha is None


def test_bad_gateway_variables_are_one_sentence_naming_them() -> None:
    cases = [
        ({"PULSE_TUI_GATEWAY": "waha", "WAHA_API_KEY": "sha512:" + "ab" * 64}, "WAHA_API_KEY", "sha512"),
        ({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_WAHA_API_KEY": "k\r\nX-Evil: 1"}, "PULSE_TUI_WAHA_API_KEY", ""),
        ({"PULSE_TUI_GATEWAY": "evolution", "AUTHENTICATION_API_KEY": "clé"}, "AUTHENTICATION_API_KEY", ""),
        ({"PULSE_TUI_GATEWAY": "evolution", "DEL_INSTANCE": "soon"}, "DEL_INSTANCE", ""),
        ({"PULSE_TUI_GATEWAY": "evolution", "QRCODE_LIMIT": "0"}, "QRCODE_LIMIT", ""),
        ({"PULSE_TUI_GATEWAY": "evolution", "WEBSOCKET_ENABLED": "maybe"}, "WEBSOCKET_ENABLED", ""),
    ]
    for values, name, word in cases:
        with pytest.raises(ConfigError) as err:
            config_from_values(values)
        text = str(err.value)
        assert text.startswith(name) and word in text and text.endswith("."), text
        assert "ab" * 8 not in text and "Evil" not in text
    # Evolution's variables are not read when another gateway is watched.
    assert config_from_values({"DEL_INSTANCE": "soon"}).evolution is None


def test_the_cli_refuses_a_hashed_key_with_exit_2() -> None:
    env = {"PATH": "/usr/bin:/bin", "PULSE_TUI_GATEWAY": "waha", "WAHA_API_KEY": "sha512:" + "cd" * 64,
           "HOME": "/nonexistent"}
    done = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], env=env, capture_output=True,
                          text=True, timeout=60, cwd="/")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "WAHA_API_KEY" in done.stderr and "Traceback" not in done.stderr


def test_the_gateway_choice_is_a_cli_option() -> None:
    from pulse_tui.cli import build_parser, config_from_args

    args = build_parser().parse_args(["--gateway", "evolution", "status"])
    assert config_from_args(args, environ={}).gateway_kind == GatewayKind.EVOLUTION


async def test_waha_by_config_lists_and_streams_events() -> None:
    sim = WahaSim("wk-123456", sessions=("default", "sales"), action_delay_s=0.0, start_delay_s=0.05)
    url = sim.start()
    try:
        config = config_from_values({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_GATEWAY_URL": url,
                                     "WAHA_API_KEY": "wk-123456"})
        gw = make_gateway(config)
        assert isinstance(gw, WahaGateway)
        assert sorted(await gw.list_sessions()) == ["default", "sales"]  # type: ignore[arg-type]
        channel = make_event_channel(config, gw)
        assert channel is not None
        channel.watch(["default", "sales"])  # one socket carries them all: a no-op
        events = channel.events()

        async def first_state() -> str:
            async for ev in events:
                if ev.kind == EventKind.STATE and ev.session_id == "sales":
                    return ev.word
            return ""

        task = asyncio.create_task(first_state())
        for _ in range(100):
            if channel.status.state == ChannelState.CONNECTED:
                break
            await asyncio.sleep(0.05)
        assert channel.status.state == ChannelState.CONNECTED
        assert (await gw.start("sales")).ok
        word = await asyncio.wait_for(task, 10)
        assert word.startswith("STARTING") or word.startswith("SCAN_QR_CODE"), word
        await events.aclose()
        await gw.aclose()
    finally:
        sim.stop()


async def test_evolution_by_config_polls_without_websocket_and_streams_with_it() -> None:
    sim = EvolutionSim("ek-123456", create_delay_s=0.0)
    url = sim.start()
    try:
        base = {"PULSE_TUI_GATEWAY": "evolution", "PULSE_TUI_GATEWAY_URL": url, "AUTHENTICATION_API_KEY": "ek-123456"}
        polling = config_from_values(base)
        gw = make_gateway(polling)
        assert isinstance(gw, EvolutionGateway)
        assert make_event_channel(polling, gw) is None  # WEBSOCKET_ENABLED unset: the monitor polls
        sim.add_instance("shop")
        assert await gw.list_sessions() == ["shop"]
        pushed = config_from_values({**base, "WEBSOCKET_ENABLED": "true"})
        channel = make_event_channel(pushed, gw)
        assert channel is not None
        channel.watch(["shop"])
        events = channel.events()

        async def first_update() -> str:
            async for ev in events:
                if ev.session_id == "shop":
                    return ev.word
            return ""

        # Evolution opens an instance's namespace at its first emit: start it, then the channel finds it.
        assert (await gw.start("shop")).ok
        task = asyncio.create_task(first_update())
        for _ in range(300):
            if channel.status.state == ChannelState.CONNECTED:
                break
            await asyncio.sleep(0.05)
        assert channel.status.state == ChannelState.CONNECTED
        assert sim.scan("shop")  # the phone links it: close 515 -> connecting -> open, pushed
        assert await asyncio.wait_for(task, 20)
        assert channel.status.state == ChannelState.CONNECTED
        await events.aclose()
        await gw.aclose()
    finally:
        sim.stop()


def test_qr_takes_the_gateways_own_names() -> None:
    from pulse_tui.cli import qr_id_error

    waha = config_from_values({"PULSE_TUI_GATEWAY": "waha"})
    evo = config_from_values({"PULSE_TUI_GATEWAY": "evolution"})
    assert qr_id_error(waha, "default") is None and qr_id_error(evo, "shop-1") is None  # not UUIDs: still fine
    assert "WAHA" in (qr_id_error(waha, "../etc") or "")
    assert "Evolution" in (qr_id_error(evo, "a/b") or "")


async def test_the_demo_worlds_of_both_gateways() -> None:
    from pulse_tui.cli import build_parser
    from pulse_tui.demo_gateways import EVOLUTION_INSTANCES, WAHA_SESSIONS, start_gateway_demo

    assert build_parser().parse_args(["demo", "--gateway", "evolution"]).gateway == "evolution"
    for kind, names in ((GatewayKind.WAHA, WAHA_SESSIONS), (GatewayKind.EVOLUTION, EVOLUTION_INSTANCES)):
        demo = start_gateway_demo(kind, auto_scan_s=None, action_delay_s=0.0)
        try:
            assert demo.config.gateway_kind == kind and demo.config.audit_log is not None
            assert str(demo.root) in str(demo.config.audit_log)  # the demo's actions are never the operator's
            gw = make_gateway(demo.config)
            assert sorted(await gw.list_sessions()) == sorted(names)  # type: ignore[arg-type]
            assert make_event_channel(demo.config, gw) is not None  # both push in the demo
            await gw.aclose()
        finally:
            demo.close()
        assert not demo.root.exists()
