"""Reading a collector's own counters: its Prometheus metrics page, parsed with prometheus_client's
text parser, boiled down to what it counted from one sender (this node's address) per flow type.

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
import os
from collections.abc import Mapping

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.domain.delivery import CollectorCounts
from gateway.domain.model import FlowType

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


def parse_counts(text: str, router: str) -> dict[FlowType, CollectorCounts]:
    """What the page counts from `router`, per flow type; types it never heard of count zero."""
    records: dict[FlowType, float] = dict.fromkeys(FlowType, 0.0)
    packets: dict[FlowType, float] = dict.fromkeys(FlowType, 0.0)
    v5_in_flowsets = 0.0  # NetFlow v5 records where goflow2 v2.2.3 counts them
    v5_in_records: float | None = None  # and where a collector that counts them properly would
    # Only the lines of the families read here go to the parser: a page from a collector with
    # thousands of senders parses in a fraction of the time, and nothing else on it can break this.
    wanted = "".join(line + "\n" for line in text.splitlines() if line.startswith(FAMILY_PREFIXES))
    try:
        families = list(text_string_to_metric_families(wanted))
    except ValueError:
        raise ScrapeError("the page is not in the Prometheus text format") from None
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            if labels.get("router") != router:
                continue
            version = labels.get("version", "")
            if sample.name == NF_RECORDS and labels.get("type") == NF_DATA:
                if version == "5":
                    v5_in_records = (v5_in_records or 0.0) + sample.value
                elif version == "10":
                    records[FlowType.IPFIX] += sample.value
            elif sample.name == NF_FLOWSETS and labels.get("type") == NF_DATA and version == "5":
                v5_in_flowsets += sample.value
            elif sample.name == NF_PACKETS:
                flow_type = NF_VERSIONS.get(version)
                if flow_type is not None:
                    packets[flow_type] += sample.value
            elif sample.name == SF_SAMPLES and labels.get("type") in SF_FLOW_SAMPLES:
                records[FlowType.SFLOW] += sample.value
            elif sample.name == SF_PACKETS:
                packets[FlowType.SFLOW] += sample.value
    records[FlowType.NETFLOW] = v5_in_records if v5_in_records is not None else v5_in_flowsets
    return {t: CollectorCounts(records=records[t], packets=packets[t]) for t in FlowType}


class CollectorMetrics:
    """GETs http://<endpoint>/metrics with one shared HTTP session."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, endpoint: str) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        url = f"http://{endpoint}/metrics"
        try:
            async with self._session.get(url, headers={"Accept": "text/plain"}) as response:
                if response.status != 200:
                    raise ScrapeError(f"HTTP {response.status}")
                chunks: list[bytes] = []
                size = 0
                # The whole body (read(n) would stop at whatever has arrived), up to a bound.
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > MAX_PAGE_BYTES:
                        raise ScrapeError(f"the page is larger than {MAX_PAGE_BYTES // (1024 * 1024)} MiB")
                    chunks.append(chunk)
                body = b"".join(chunks)
        except TimeoutError:
            raise ScrapeError(f"no answer within {self.timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            errno = exc.os_error.errno
            raise ScrapeError(os.strerror(errno) if errno else str(exc.os_error) or "cannot connect") from None
        except aiohttp.ClientError as exc:
            raise ScrapeError(str(exc) or type(exc).__name__) from None
        return body.decode("utf-8", errors="replace")

    async def counts(self, endpoint: str, router: str) -> dict[FlowType, CollectorCounts]:
        text = await self.fetch(endpoint)
        # A big page takes a while to parse; keep the event loop (OVS monitor, watches) responsive.
        if len(text) > 256 * 1024:
            return await asyncio.to_thread(parse_counts, text, router)
        return parse_counts(text, router)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
