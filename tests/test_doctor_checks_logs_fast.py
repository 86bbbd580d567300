"""The log checks' substring prefilter never changes what the regexes alone find (it only skips lines early)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pulse_tui.config import Config
from pulse_tui.doctor import checks
from pulse_tui.doctor.checks import check_logs

FRAGMENTS = ["ElevenLabs", "elevenlabs", "ELEVENLABS", "401", "4010", "x401", " ", ":", "status code",
             "Decryption failed", "decryption failed", "Failed to get encrypted value for key session:", "abc123",
             "Failed to get encrypted value", "Error", "\t"]


def _regex_only(lines: list[str], config: Config) -> tuple[int, int, list[str]]:
    eleven = sum(1 for x in lines if checks._ELEVENLABS_401.search(x))  # noqa: SLF001 - the reference
    failed = [x for x in lines if checks._DECRYPT_FAILED.search(x)]  # noqa: SLF001
    ids: list[str] = []
    for x in failed:
        m = checks._FAILED_KEY.search(x)  # noqa: SLF001
        if m and m.group(1) not in ids:
            ids.append(m.group(1))
    return eleven, len(failed), ids


@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join), max_size=30))
def test_prefilter_finds_what_the_regexes_find(lines: list[str]) -> None:
    config = Config(other_secrets={"ELEVENLABS_API_KEY": "sk_live"})
    eleven, decrypt, ids = _regex_only(lines, config)
    by = {f.code: f for f in check_logs(lines, config)}
    assert ("elevenlabs-unauthorized" in by) == bool(eleven)
    if eleven:
        assert f"{eleven} log line(s)" in by["elevenlabs-unauthorized"].message
    assert ("log-decryption-failed" in by) == bool(decrypt)
    if decrypt:
        assert f"{decrypt} log line(s)" in by["log-decryption-failed"].message
        assert list(by["log-decryption-failed"].subjects) == ids[:len(by["log-decryption-failed"].subjects)]
