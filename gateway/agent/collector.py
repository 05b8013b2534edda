"""Reading a collector's own counters: its Prometheus metrics page, boiled down to what it counted
from one sender (this node's address) per flow type.

goflow2 v2 (metrics/metrics.go, producer.go, decoder.go), all names prefixed `goflow2_`, where
`router` is the UDP source address of the export datagrams:

    flow_process_nf_total{router,version}                    datagrams: 5 = NetFlow v5, 10 = IPFIX
    flow_process_nf_flowset_records_total{router,version,type}   IPFIX (and v9) records; type
                                                             DataFlowSet = flows
    flow_process_nf_flowset_total{router,version,type}       flowsets, except for NetFlow v5, whose
                                                             records goflow2 v2.2.3 adds here
                                                             (type DataFlowSet, the header's count)
    flow_process_sf_total{router,agent,version}              sFlow datagrams
    flow_process_sf_samples_total{router,agent,version,type}     sFlow samples; FlowSample and
                                                             ExpandedFlowSample are sampled packets

Another collector can publish the same names (the parser matches names and labels, not the
program)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping

from gateway.domain.delivery import CollectorCounts
from gateway.domain.model import FlowType
from gateway.kube.http import HttpClient, HttpError

NF_PACKETS = "goflow2_flow_process_nf_total"
NF_RECORDS = "goflow2_flow_process_nf_flowset_records_total"
NF_FLOWSETS = "goflow2_flow_process_nf_flowset_total"
SF_PACKETS = "goflow2_flow_process_sf_total"
SF_SAMPLES = "goflow2_flow_process_sf_samples_total"
FAMILY_PREFIXES = ("goflow2_flow_process_nf_", "goflow2_flow_process_sf_")
NF_VERSIONS: Mapping[str, FlowType] = {"5": FlowType.NETFLOW, "10": FlowType.IPFIX}
NF_DATA = "DataFlowSet"
SF_FLOW_SAMPLES = ("FlowSample", "ExpandedFlowSample")
MAX_PAGE_BYTES = 16 * 1024 * 1024  # a collector for thousands of senders; more is not a metrics page


class ScrapeError(Exception):
    """The counters could not be read; the message is a phrase saying why."""


# A sample line of the Prometheus text format (prometheus.io/docs/instrumenting/exposition_formats):
# name, optional {labels}, value, optional timestamp.
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?[0-9]+)?[ \t]*")
_LABEL = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(?:,|$)')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def samples(text: str, prefixes: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample line whose name starts with one of `prefixes`; lines of
    other families are not read at all (a page from a collector with thousands of senders is
    mostly other families). ScrapeError on a line that is not the text format."""
    for line in text.splitlines():
        if not line.startswith(prefixes):
            continue
        found = _SAMPLE.fullmatch(line)
        if found is None:
            raise ScrapeError("the page is not in the Prometheus text format")
        name, label_text, value_text = found.groups()
        labels: dict[str, str] = {}
        position = 0
        while label_text and position < len(label_text):
            label = _LABEL.match(label_text, position)
            if label is None or label.end() == position:
                raise ScrapeError("the page is not in the Prometheus text format")
            labels[label[1]] = re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m[0]], label[2])
            position = label.end()
        try:
            value = float(value_text)
        except ValueError:
            raise ScrapeError("the page is not in the Prometheus text format") from None
        yield name, labels, value


def parse_counts(text: str, router: str) -> dict[FlowType, CollectorCounts]:
    """What the page counts from `router`, per flow type; types it never heard of count zero."""
    records: dict[FlowType, float] = dict.fromkeys(FlowType, 0.0)
    packets: dict[FlowType, float] = dict.fromkeys(FlowType, 0.0)
    v5_in_flowsets = 0.0  # NetFlow v5 records where goflow2 v2.2.3 counts them
    v5_in_records: float | None = None  # and where a collector that counts them properly would
    for name, labels, value in samples(text, FAMILY_PREFIXES):
        if labels.get("router") != router:
            continue
        version = labels.get("version", "")
        if name == NF_RECORDS and labels.get("type") == NF_DATA:
            if version == "5":
                v5_in_records = (v5_in_records or 0.0) + value
            elif version == "10":
                records[FlowType.IPFIX] += value
        elif name == NF_FLOWSETS and labels.get("type") == NF_DATA and version == "5":
            v5_in_flowsets += value
        elif name == NF_PACKETS:
            flow_type = NF_VERSIONS.get(version)
            if flow_type is not None:
                packets[flow_type] += value
        elif name == SF_SAMPLES and labels.get("type") in SF_FLOW_SAMPLES:
            records[FlowType.SFLOW] += value
        elif name == SF_PACKETS:
            packets[FlowType.SFLOW] += value
    records[FlowType.NETFLOW] = v5_in_records if v5_in_records is not None else v5_in_flowsets
    return {t: CollectorCounts(records=records[t], packets=packets[t]) for t in FlowType}


class CollectorMetrics:
    """GETs http://<endpoint>/metrics, over one keep-alive connection per endpoint."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._clients: dict[str, HttpClient] = {}

    async def fetch(self, endpoint: str) -> str:
        client = self._clients.get(endpoint)
        if client is None:
            await self.close()  # the collector moved: one endpoint at a time
            client = HttpClient(f"http://{endpoint}", connect_timeout=self.timeout)
            self._clients[endpoint] = client
        try:
            async with asyncio.timeout(self.timeout):
                answer = await client.request("GET", "/metrics", headers={"Accept": "text/plain"})
                try:
                    if answer.status != 200:
                        raise ScrapeError(f"HTTP {answer.status}")
                    # The whole body, up to a bound.
                    body = await answer.read(MAX_PAGE_BYTES)
                finally:
                    answer.release()
        except TimeoutError:
            raise ScrapeError(f"no answer within {self.timeout:g} s") from None
        except HttpError as exc:
            text = str(exc)
            if text.startswith("the answer is larger than"):
                text = f"the page is larger than {MAX_PAGE_BYTES // (1024 * 1024)} MiB"
            raise ScrapeError(text) from None
        return body.decode("utf-8", errors="replace")

    async def counts(self, endpoint: str, router: str) -> dict[FlowType, CollectorCounts]:
        text = await self.fetch(endpoint)
        # A big page takes a while to parse; keep the event loop (OVS monitor, watches) responsive.
        if len(text) > 256 * 1024:
            return await asyncio.to_thread(parse_counts, text, router)
        return parse_counts(text, router)

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
