"""Reading goflow2's metrics page (as goflow2 v2.2.3 prints it) and OVS's IPFIX counters."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.agent.collector import ScrapeError, parse_counts, samples
from gateway.agent.ovs import parse_ipfix_stats
from gateway.domain.delivery import CollectorCounts, ExporterCounts
from gateway.domain.model import FlowType

# Lines as the testbed's goflow2 printed them, with a second sender and goflow2's own noise.
PAGE = """\
# HELP goflow2_flow_process_nf_flowset_records_total NetFlows FlowSets sum of records.
# TYPE goflow2_flow_process_nf_flowset_records_total counter
goflow2_flow_process_nf_flowset_records_total{router="10.89.0.1",type="DataFlowSet",version="10"} 36940
goflow2_flow_process_nf_flowset_records_total{router="10.89.0.1",type="OptionsDataFlowSet",version="10"} 3
goflow2_flow_process_nf_flowset_records_total{router="10.89.0.1",type="TemplateFlowSet",version="10"} 264
goflow2_flow_process_nf_flowset_records_total{router="10.89.0.2",type="DataFlowSet",version="10"} 99
# HELP goflow2_flow_process_nf_flowset_total NetFlows FlowSets sum.
# TYPE goflow2_flow_process_nf_flowset_total counter
goflow2_flow_process_nf_flowset_total{router="10.89.0.1",type="DataFlowSet",version="10"} 36940
goflow2_flow_process_nf_flowset_total{router="10.89.0.1",type="DataFlowSet",version="5"} 6
# HELP goflow2_flow_process_nf_total NetFlows processed.
# TYPE goflow2_flow_process_nf_total counter
goflow2_flow_process_nf_total{router="10.89.0.1",version="10"} 37000
goflow2_flow_process_nf_total{router="10.89.0.1",version="5"} 3
# HELP goflow2_flow_process_nf_templates_total NetFlows Template count.
# TYPE goflow2_flow_process_nf_templates_total counter
goflow2_flow_process_nf_templates_total{obs_domain_id="0",router="10.89.0.1:57904",template_id="256",type="template",version="10"} 1
# HELP goflow2_flow_process_sf_samples_total sFlows samples.
# TYPE goflow2_flow_process_sf_samples_total counter
goflow2_flow_process_sf_samples_total{agent="10.128.1.2",router="10.89.0.1",type="FlowSample",version="5"} 77
goflow2_flow_process_sf_samples_total{agent="10.128.1.2",router="10.89.0.1",type="CounterSample",version="5"} 4
# HELP goflow2_flow_process_sf_total sFlows processed.
# TYPE goflow2_flow_process_sf_total counter
goflow2_flow_process_sf_total{agent="10.128.1.2",router="10.89.0.1",version="5"} 11
# HELP goflow2_flow_traffic_packets_total Packets received by the application.
# TYPE goflow2_flow_traffic_packets_total counter
goflow2_flow_traffic_packets_total{local_ip="10.89.0.1",local_port="30001",remote_ip="10.89.0.1",type="flow"} 37014
"""


def test_counts_for_one_sender_per_type() -> None:
    counts = parse_counts(PAGE, "10.89.0.1")
    assert counts[FlowType.IPFIX] == CollectorCounts(records=36940, packets=37000)
    assert counts[FlowType.NETFLOW] == CollectorCounts(records=6, packets=3)  # v5 records in flowset_total
    assert counts[FlowType.SFLOW] == CollectorCounts(records=77, packets=11)  # flow samples, not counter samples
    assert parse_counts(PAGE, "10.89.0.2")[FlowType.IPFIX] == CollectorCounts(records=99, packets=0)
    assert parse_counts(PAGE, "10.89.0.3") == dict.fromkeys(FlowType, CollectorCounts())


def test_netflow_v5_records_where_a_collector_counts_them_as_records() -> None:
    fixed = 'goflow2_flow_process_nf_flowset_records_total{router="r",type="DataFlowSet",version="5"} 30\n'
    assert parse_counts(fixed + 'goflow2_flow_process_nf_flowset_total{router="r",type="DataFlowSet",version="5"} 1\n',
                        "r")[FlowType.NETFLOW].records == 30  # fmt: skip


def test_a_page_that_is_not_prometheus_text_is_a_scrape_error() -> None:
    with pytest.raises(ScrapeError, match="not in the Prometheus text format"):
        parse_counts('goflow2_flow_process_nf_total{router="x" 12\n', "x")
    # Lines of other families are not read at all.
    assert parse_counts(PAGE + "go_gc_weird{ 1\n", "10.89.0.1")[FlowType.SFLOW].records == 77


def test_sample_lines_read_as_prometheus_client_reads_them() -> None:
    """The agent reads the text format itself (prometheus_client is not in its memory); on every
    shape of sample line it reads what prometheus_client's parser reads."""
    page = PAGE + (
        'goflow2_flow_process_nf_total{router="a\\\\b \\"quoted\\" \\n line",version="10",} 1.5e3 1700000000000\n'
        "goflow2_flow_process_nf_total 7\n"
        'goflow2_flow_process_sf_total{ agent = "x" , router="}{,=" } +Inf\n'
        'goflow2_flow_process_sf_total{router="nan"} NaN\n'
    )
    ours = [(n, labels, v) for n, labels, v in samples(page, ("goflow2_",))]
    theirs = [(s.name, s.labels, s.value) for f in text_string_to_metric_families(page) for s in f.samples]
    assert len(ours) == len(theirs) == 17
    for (name, labels, value), (their_name, their_labels, their_value) in zip(ours, theirs, strict=True):
        assert (name, labels) == (their_name, their_labels)
        assert value == their_value or (value != value and their_value != their_value)  # NaN


def test_ovs_ipfix_counters() -> None:
    reply = (
        "NXST_IPFIX_BRIDGE reply (OF1.5) (xid=0x2):\n"
        "  bridge ipfix: flows=404, current flows=4, sampled pkts=404, ipv4 ok=392, ipv6 ok=12, tx pkts=424\n"
        "                pkts errs=0, ipv4 errs=0, ipv6 errs=0, tx errs=2\n"
    )
    assert parse_ipfix_stats(reply) == ExporterCounts(
        sampled_packets=404, sent_records=400, sent_packets=424, send_errors=2
    )
    assert (
        parse_ipfix_stats("OFPT_ERROR (xid=0x2): NXST_NOT_CONFIGURED\nNXST_IPFIX_BRIDGE request (xid=0x2):\n") is None
    )
    with pytest.raises(ValueError, match="tx errs"):
        parse_ipfix_stats("bridge ipfix: flows=1, current flows=0, sampled pkts=1, tx pkts=1")
