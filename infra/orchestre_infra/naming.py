"""Construct ids and token helpers shared by the constructs of the stack."""

from __future__ import annotations

import re

from aws_cdk import CfnElement, Stack
from constructs import IConstruct


def pascal(key: str) -> str:
    """'main' -> 'Main', 'e-reporting_queue' -> 'EReportingQueue' (a construct id fragment)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", key) if part)


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2 construct's default child (or of an L1 itself)."""
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation element")
    stack = Stack.of(element)
    return str(stack.resolve(stack.get_logical_id(element)))


def nag_ref(construct: IConstruct, attribute: str | None = None) -> str:
    """How cdk-nag prints a reference in an IAM finding: <LogicalId> for Ref, <LogicalId.Attr> for GetAtt."""
    lid = logical_id(construct)
    return f"<{lid}.{attribute}>" if attribute else f"<{lid}>"
