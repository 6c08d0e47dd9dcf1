"""Rule results for people (text), scripts (JSON) and CI systems (JUnit XML).

Layer and tensor names in messages go through the redactor (the null one when redaction is off);
it must have learned the names first (the command line feeds it every parsed event).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from xml.etree import ElementTree as ET

import orjson

from trt_agent.redact import Redactor
from trt_agent.rules import FAIL, PASS, SKIP, Result, gate
from trt_agent.text import plural


def redacted(results: Sequence[Result], redactor: Redactor) -> list[Result]:
    """Copies of ``results`` whose messages and offenders name no clear layer or tensor."""
    return [
        replace(r, message=redactor.text(r.message), offenders=[redactor.text(o) for o in r.offenders])
        for r in results
    ]


def counts(results: Sequence[Result]) -> dict[str, int]:
    """``failed`` (errors), ``warnings`` (failed warnings), ``passed``, ``skipped``."""
    c: Counter[str] = Counter()
    for r in results:
        if r.status == FAIL:
            c["failed" if r.severity == "error" else "warnings"] += 1
        else:
            c["passed" if r.status == PASS else "skipped"] += 1
    return {k: c[k] for k in ("failed", "warnings", "passed", "skipped")}


def _label(r: Result) -> str:
    if r.status == FAIL:
        return "FAIL" if r.severity == "error" else "WARN"
    return "ok" if r.status == PASS else "skip"


_ORDER = {"FAIL": 0, "WARN": 1, "ok": 2, "skip": 3}


def verdict_line(results: Sequence[Result]) -> str:
    """``PASS  (0 failed, 1 warning, 8 passed, 1 skipped)``: the gate and its counts."""
    c = counts(results)
    verdict = ("PASS" if gate(results) else "FAIL") if results else "NOTHING JUDGED"
    return (
        f"{verdict}  ({c['failed']} failed, {plural(c['warnings'], 'warning')}, "
        f"{c['passed']} passed, {c['skipped']} skipped)"
    )


def sorted_results(results: Sequence[Result]) -> list[Result]:
    """Failures first, then failed warnings, passes, skips; file order within each."""
    return sorted(results, key=lambda r: _ORDER[_label(r)])


def result_lines(results: Sequence[Result], width: int | None = None) -> list[str]:
    """One line per result in :func:`sorted_results` order: ``  FAIL  rule  message``
    (``check`` and ``report --rules`` print the same lines)."""
    if width is None:
        width = max((len(r.rule) for r in results), default=10)
    return [f"  {_label(r):<4}  {r.rule:<{width}}  {r.message}" for r in sorted_results(results)]


def results_text(results: Sequence[Result], rules_path: str) -> str:
    """One verdict line, then one line per rule per engine, failures first."""
    lines = [f"trt-agent check: {verdict_line(results)}  rules: {rules_path}"]
    engines: dict[str, list[Result]] = {}
    for r in results:
        engines.setdefault(r.engine, []).append(r)
    width = max((len(r.rule) for r in results), default=10)
    for engine, rows in engines.items():
        lines.append(f"engine {engine}")
        lines.extend(result_lines(rows, width))
    if not results:
        lines.append("  (no rule applied to any engine in the input)")
    return "\n".join(lines) + "\n"


def results_json(results: Sequence[Result], rules_path: str) -> bytes:
    doc: dict[str, Any] = {
        "passed": bool(results) and gate(results),  # judging nothing is no pass
        "rules_file": rules_path,
        "counts": counts(results),
        "results": [r.as_dict() for r in results],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


# Characters XML 1.0 does not allow, even escaped (ANSI colour codes in a log line, say).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    """``text`` as XML may hold it: a forbidden character is written as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def results_junit(results: Sequence[Result], rules_path: str) -> bytes:
    """One ``<testsuite>`` per engine, one ``<testcase>`` per rule: failed errors are
    ``<failure>``, skipped rules ``<skipped>``; failed warnings pass with the message in
    ``<system-out>`` (they do not gate, and CI systems have no "warning" test state)."""
    suites = ET.Element("testsuites", name="trt-agent check")
    engines: dict[str, list[Result]] = {}
    for r in results:
        engines.setdefault(r.engine, []).append(r)
    total = Counter[str]()
    for engine, rows in engines.items():
        c = counts(rows)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=_xml(engine),
            tests=str(len(rows)),
            failures=str(c["failed"]),
            errors="0",
            skipped=str(c["skipped"]),
        )
        ET.SubElement(
            ET.SubElement(suite, "properties"), "property", name="rules_file", value=_xml(rules_path)
        )
        for r in rows:
            case = ET.SubElement(suite, "testcase", classname=_xml(f"trt-agent.{engine}"), name=r.rule)
            if r.status == FAIL and r.severity == "error":
                failure = ET.SubElement(case, "failure", message=_xml(r.message), type=r.check)
                failure.text = _xml("\n".join([r.message, *r.offenders]))
            elif r.status == SKIP:
                ET.SubElement(case, "skipped", message=_xml(r.message))
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _xml(("WARNING: " if r.status == FAIL else "") + r.message)
        total.update(c)
    suites.set("tests", str(len(results)))
    suites.set("failures", str(total["failed"]))
    suites.set("skipped", str(total["skipped"]))
    ET.indent(suites)
    body: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return body + b"\n"
