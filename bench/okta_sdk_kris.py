#!/usr/bin/env python3
# Benchmark baseline: computes the seven Okta KRIs of docs/okta-kris.md the way a user would
# with Okta's official Python SDK (`okta` on PyPI, see bench/requirements.txt), so kri's
# sandboxed connector can be compared with it for wall time and request count (run it
# against okta-sim). Set up its venv with scripts/bench-python-setup.sh.
#
#   okta_sdk_kris.py --org-url http://127.0.0.1:PORT --token TOKEN --now 2026-11-23T02:00:00.000Z
#
# Prints one JSON line: {"kris": {slug: value or null}, "wall_s": ..., "requests": ...}.
# Errors go to stderr with exit status 1.
#
# What goes through which part of the SDK (okta 3.4.x):
# - users (ACTIVE, SUSPENDED) and a user's appLinks: the typed list methods, paged with the
#   SDK's PaginationHelper (`after` cursor from the Link header);
# - factors, ACCESS_POLICY policies and their rules, System Log: the SDK's request executor
#   (create_request / execute) paged with the SDK's OktaAPIResponse (has_next / next),
#   because the typed models reject real-shaped answers with a pydantic ValidationError:
#   UserFactorSMSProfile wants phone numbers without dashes, AccessPolicy wants `_embedded`
#   values to be objects, LogSecurityContext.userBehaviors must be a list of objects (Okta
#   also sends a string or a map), and VerificationMethod.constraints must be a list.
# - 429s: only the SDK's own retry (`rateLimit.maxRetries`), no pacing of our own.

import time

_STARTED = time.perf_counter()  # before the SDK import, which takes a while

import argparse
import asyncio
import json
import math
import os
import sys
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
ADMIN_LOOKBACK_HOURS = 168
OUTLIER_MS = 8 * HOUR_MS

ADMIN_START = "user.session.access_admin_app"
ADMIN_END = "user.session.end"
CLASSIC_DENY_PUSH = "user.mfa.okta_verify.deny_push"
AUTH_VIA_MFA = "user.authentication.auth_via_mfa"


class KriError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description="Okta KRIs with Okta's Python SDK (benchmark baseline)")
    p.add_argument("--org-url", required=True, help="e.g. https://acme.okta.com or http://127.0.0.1:PORT")
    p.add_argument("--token", required=True, help="API token (SSWS)")
    p.add_argument("--now", required=True, help="evaluation clock, RFC 3339")
    p.add_argument("--concurrency", type=int, default=10,
                   help="per-user requests (factors, appLinks) in flight at once (default 10)")
    p.add_argument("--max-retries", type=int, default=5,
                   help="the SDK's rateLimit.maxRetries for 429s (default 5)")
    args = p.parse_args(argv)
    if args.concurrency < 1:
        p.error("--concurrency must be at least 1")
    if args.max_retries < 0:
        p.error("--max-retries must not be negative")
    return args


# ---------------------------------------------------------------------------- time

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso_to_ms(text):
    """RFC 3339 text -> epoch milliseconds (integer arithmetic, no float rounding)."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    d = dt - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1000 + d.microseconds // 1000


def ms_to_iso(ms):
    secs, milli = divmod(ms, 1000)
    dt = datetime.fromtimestamp(secs, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % milli


def event_ms(ev):
    published = ev.get("published")
    if not isinstance(published, str):
        return None
    try:
        return iso_to_ms(published)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- helpers

def pct_1dp(numerator, denominator):
    """round(numerator / denominator * 100, 1), rounding halves up like the doc's round()."""
    if denominator == 0:
        return None
    x = numerator / denominator * 100.0
    return math.floor(x * 10.0 + 0.5) / 10.0


def norm(value):
    return value.strip().upper() if isinstance(value, str) else ""


def dig(obj, *keys):
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


# ---------------------------------------------------------------------------- SDK access

def load_sdk():
    try:
        from okta.api_response import OktaAPIResponse
        from okta.client import Client
        from okta.http_client import HTTPClient
        from okta.pagination import PaginationHelper
    except ImportError as e:
        raise KriError(f"Okta's Python SDK is not installed ({e}); run scripts/bench-python-setup.sh")
    return Client, HTTPClient, OktaAPIResponse, PaginationHelper


class Okta:
    """The SDK client plus the few helpers the KRIs need."""

    def __init__(self, args, sdk):
        Client, HTTPClient, OktaAPIResponse, PaginationHelper = sdk
        self.OktaAPIResponse = OktaAPIResponse
        self.PaginationHelper = PaginationHelper
        self.org_url = args.org_url
        self.requests = 0
        self.throttled = 0
        self.transport_error = None
        outer = self

        class CountingHTTPClient(HTTPClient):
            # The SDK's documented extension point; counts what goes on the wire (retries too).
            async def send_request(self, request):
                result = await super().send_request(request)
                outer.requests += 1
                response = result[1]
                if response is None:
                    # The typed calls then fail with an AttributeError; keep the real cause.
                    outer.transport_error = result[3]
                elif response.status == 429:
                    outer.throttled += 1
                return result

        if not args.org_url.lower().startswith("https://"):
            # The SDK refuses non-https org URLs unless this (documented) testing switch is on.
            os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
        try:
            self.client = Client({
                "orgUrl": args.org_url.rstrip("/"),
                "token": args.token,
                "authorizationMode": "SSWS",
                "rateLimit": {"maxRetries": args.max_retries},
                "httpClient": CountingHTTPClient,
            })
        except ValueError as e:
            raise KriError(f"the Okta SDK refused its configuration: {e}")
        # okta 3.4.x builds the typed calls' header as authorizationMode + token with no space
        # ("SSWS00abc..."); okta-sim, like RFC 7235, wants "SSWS 00abc...".
        mode = getattr(self.client.configuration, "authorization_mode", None)
        if isinstance(mode, str) and not mode.endswith(" "):
            self.client.configuration.authorization_mode = mode + " "
        self.executor = self.client.get_request_executor()

    async def __aenter__(self):
        await self.client.__aenter__()  # one aiohttp session (keep-alive) for every call
        return self

    async def __aexit__(self, *exc):
        await self.client.__aexit__(*exc)

    async def users(self, status):
        """Every user with `status`, through the typed list_users and the `after` cursor."""
        out = []
        after = None
        while True:
            users, resp, err = await self.client.list_users(
                filter=f'status eq "{status}"', limit=200, after=after)
            if err is not None:
                raise KriError(f"listing {status} users: {err}")
            out.extend(users or [])
            # resp.headers is a plain dict, so of Okta's two Link headers (self, then next)
            # only the last survives; that is the one PaginationHelper needs.
            after = self.PaginationHelper.extract_next_cursor(resp.headers or {})
            if not after or not users:
                return out

    async def app_links(self, user_id):
        links, _, err = await self.client.list_app_links(user_id)
        if err is not None:
            raise KriError(f"listing appLinks of {user_id}: {err}")
        return links or []

    async def get_all(self, path, what):
        """A GET through the request executor, every page (OktaAPIResponse.has_next/next)."""
        request, err = await self.executor.create_request("GET", path)
        if err is not None:
            raise KriError(f"{what}: {err}")
        response, body, err = await self.executor.execute(request)
        if err is not None:
            raise KriError(f"{what}: {err}")
        page = self.OktaAPIResponse(self.executor, request, response, body)
        items = self._items(page, what)
        while page.has_next():
            _, err, next_page = await page.next(includeResponse=True)
            if err is not None:
                raise KriError(f"{what}: {err}")
            if next_page is None:
                raise KriError(f"{what}: the next page did not come")
            items.extend(self._items(next_page, what))
        return items

    @staticmethod
    def _items(page, what):
        status = page.get_status()
        body = page.get_body()
        if not 200 <= status <= 299:
            summary = body.get("errorSummary") if isinstance(body, dict) else None
            raise KriError(f"{what}: HTTP {status} {summary or ''}".rstrip())
        if not isinstance(body, list):
            raise KriError(f"{what}: expected a JSON array, got {type(body).__name__}")
        return list(body)


async def bounded_gather(limit, coros):
    gate = asyncio.Semaphore(limit)

    async def run(coro):
        async with gate:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


def query(path, **params):
    return path + "?" + urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote)


# ---------------------------------------------------------------------------- KRIs

def factor_flags(factors):
    """(enrolled, phishing-resistant) for one user's factors."""
    enrolled = phish = False
    for f in factors:
        if not isinstance(f, dict) or norm(f.get("status")) != "ACTIVE":
            continue
        ftype = norm(f.get("factorType")).lower()
        if ftype in ("password", "question"):
            continue
        enrolled = True
        if ftype in ("webauthn", "u2f") or norm(f.get("provider")) == "FIDO":
            phish = True
    return enrolled, phish


async def mfa_kris(okta, concurrency):
    active = await okta.users("ACTIVE")

    async def factors_of(user_id):
        return await okta.get_all(f"/api/v1/users/{quote(user_id, safe='')}/factors",
                                  f"factors of {user_id}")

    per_user = await bounded_gather(concurrency, [factors_of(u.id) for u in active])
    enrolled = phish = 0
    for factors in per_user:
        e, p = factor_flags(factors)
        enrolled += e
        phish += e and p
    return pct_1dp(enrolled, len(active)), pct_1dp(phish, enrolled)


async def inactive_with_apps(okta, concurrency):
    suspended = await okta.users("SUSPENDED")
    links = await bounded_gather(concurrency, [okta.app_links(u.id) for u in suspended])
    return sum(1 for l in links if len(l) > 0)


async def app_policy_exceptions(okta):
    policies = await okta.get_all(query("/api/v1/policies", type="ACCESS_POLICY"), "ACCESS_POLICY policies")
    active = [p for p in policies if isinstance(p, dict) and norm(p.get("status")) == "ACTIVE"]
    rule_lists = await asyncio.gather(*(
        okta.get_all(f"/api/v1/policies/{quote(p['id'], safe='')}/rules", f"rules of policy {p['id']}")
        for p in active))
    exceptions = 0
    for rules in rule_lists:
        for rule in rules:
            if not isinstance(rule, dict) or norm(rule.get("status")) != "ACTIVE":
                continue
            sign_on = dig(rule, "actions", "appSignOn")
            if not isinstance(sign_on, dict) or norm(sign_on.get("access")) != "ALLOW":
                continue
            method = sign_on.get("verificationMethod")
            if method is None or (isinstance(method, dict) and norm(method.get("factorMode")) == "1FA"):
                exceptions += 1
    return exceptions


def java_map_pairs(text):
    """'{New City=NEGATIVE, Velocity=POSITIVE}' -> [(name, value)]; a bare name is POSITIVE."""
    t = text.strip()
    if t.startswith("{"):
        t = t[1:]
    if t.endswith("}"):
        t = t[:-1]
    pairs = []
    for entry in t.split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, value = entry.rpartition("=")
        pairs.append((name.strip(), value.strip()) if sep else (entry, "POSITIVE"))
    return [(n, v) for n, v in pairs if n]


def behaviour_pairs(value):
    """Behaviours in any of the shapes Okta uses: Java-map string, JSON text, map, list."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, (dict, list)):
                return behaviour_pairs(parsed)
        return java_map_pairs(text)
    if isinstance(value, dict):
        pairs = []
        for name, v in value.items():
            if isinstance(v, str):
                pairs.append((name, v))
            elif isinstance(v, bool):
                pairs.append((name, "POSITIVE" if v else "NEGATIVE"))
            elif isinstance(v, dict) and isinstance(v.get("result", v.get("value")), str):
                pairs.append((name, v.get("result", v.get("value"))))
        return pairs
    if isinstance(value, list):
        pairs = []
        for item in value:
            if isinstance(item, str):
                pairs.extend(java_map_pairs(item))
            elif isinstance(item, dict):
                name = item.get("name") or item.get("behaviorName")
                result = item.get("result") or item.get("value") or "POSITIVE"
                if isinstance(name, str) and isinstance(result, str):
                    pairs.append((name, result))
        return pairs
    return []


def velocity_positive(ev):
    debug = dig(ev, "debugContext", "debugData")
    debug = debug if isinstance(debug, dict) else {}
    pairs = behaviour_pairs(debug.get("behaviors"))
    security_data = debug.get("logOnlySecurityData")
    if isinstance(security_data, str):
        try:
            security_data = json.loads(security_data)
        except ValueError:
            security_data = None
    if isinstance(security_data, dict):
        pairs += behaviour_pairs(security_data.get("behaviors"))
    pairs += behaviour_pairs(dig(ev, "securityContext", "userBehaviors"))
    return any(name.strip().lower().startswith("velocity") and norm(v) == "POSITIVE" for name, v in pairs)


def push_denied(ev):
    event_type = (ev.get("eventType") or "").strip()
    if event_type == CLASSIC_DENY_PUSH:
        return True
    return (event_type == AUTH_VIA_MFA
            and norm(dig(ev, "debugContext", "debugData", "factor")) == "OKTA_VERIFY_PUSH"
            and norm(dig(ev, "outcome", "result")) == "FAILURE")


def session_id(ev):
    sid = dig(ev, "authenticationContext", "externalSessionId")
    return sid.strip() if isinstance(sid, str) and sid.strip() else None


async def log_kris(okta, now_ms):
    """Impossible travel, admin-session outliers and push denials from the System Log."""
    window_start = now_ms - DAY_MS  # the window is (now - 24 h, now]
    until = ms_to_iso(now_ms + 1)   # Okta's `until` is exclusive
    last_day, admin_starts = await asyncio.gather(
        okta.get_all(query("/api/v1/logs", since=ms_to_iso(window_start), until=until,
                           limit=1000, sortOrder="ASCENDING"),
                     "System Log, last 24 h"),
        okta.get_all(query("/api/v1/logs", since=ms_to_iso(now_ms - ADMIN_LOOKBACK_HOURS * HOUR_MS),
                           until=until, limit=1000, sortOrder="ASCENDING",
                           filter=f'eventType eq "{ADMIN_START}"'),
                     "System Log, admin session starts"),
    )

    starts = {}
    for ev in admin_starts:
        t, sid = event_ms(ev), session_id(ev)
        if t is None or sid is None or t > now_ms or (ev.get("eventType") or "").strip() != ADMIN_START:
            continue
        if sid not in starts or t < starts[sid]:
            starts[sid] = t

    seen = set()
    travel = push = outliers = 0
    for ev in last_day:
        t, uuid = event_ms(ev), ev.get("uuid")
        if t is None or not uuid or not (window_start < t <= now_ms) or uuid in seen:
            continue
        seen.add(uuid)
        travel += velocity_positive(ev)
        push += push_denied(ev)
        if (ev.get("eventType") or "").strip() == ADMIN_END:
            start = starts.get(session_id(ev))
            if start is not None and start <= t and t - start > OUTLIER_MS:
                outliers += 1
    return travel, outliers, push


async def compute(args, now_ms, sdk):
    async with Okta(args, sdk) as okta:
        try:
            (mfa, phish), inactive, exceptions, (travel, outliers, push) = await asyncio.gather(
                mfa_kris(okta, args.concurrency),
                inactive_with_apps(okta, args.concurrency),
                app_policy_exceptions(okta),
                log_kris(okta, now_ms),
            )
        except Exception as e:
            if okta.transport_error is not None:
                raise KriError(f"cannot reach {okta.org_url}: {okta.transport_error}") from e
            raise
        kris = {
            "okta_mfa_adoption_pct": mfa,
            "okta_phish_resistant_mfa_pct": phish,
            "okta_inactive_users_with_app_access": inactive,
            "okta_impossible_travel_24h": travel,
            "okta_admin_session_outliers_24h": outliers,
            "okta_failed_mfa_push_24h": push,
            "okta_app_policy_exceptions": exceptions,
        }
        return kris, okta.requests, okta.throttled


def main(argv):
    args = parse_args(argv)
    try:
        now_ms = iso_to_ms(args.now)
    except ValueError:
        print(f"okta_sdk_kris: --now {args.now!r} is not an RFC 3339 time", file=sys.stderr)
        return 1
    try:
        sdk = load_sdk()
    except KriError as e:
        print(f"okta_sdk_kris: {e}", file=sys.stderr)
        return 1
    begun = time.perf_counter()
    try:
        kris, requests, throttled = asyncio.run(compute(args, now_ms, sdk))
    except KriError as e:
        print(f"okta_sdk_kris: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the SDK raises pydantic / aiohttp errors of its own
        print(f"okta_sdk_kris: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    done = time.perf_counter()
    print(json.dumps({
        "kris": kris,
        "wall_s": round(done - begun, 3),
        "startup_s": round(begun - _STARTED, 3),
        "requests": requests,
        "throttled_429": throttled,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
