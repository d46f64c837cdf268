"""The version judgement. Real clusters of one installed version can only show the PASS case
(tests/integration/test_gates.py); the others are judged here from version numbers."""

from gonogo.gates.server_versions import judge
from gonogo.results import Verdict


def test_exactly_equal_versions_pass():
    assert judge(150018, 150018) is Verdict.PASS


def test_another_minor_release_warns():
    assert judge(150018, 150012) is Verdict.WARN


def test_another_major_version_fails():
    assert judge(160004, 150018) is Verdict.FAIL
    assert judge(150018, 140011) is Verdict.FAIL
