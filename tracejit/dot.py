"""`tracejit dump --format dot`: IR Functions as a Graphviz digraph.

Every Function is a cluster with one node per parameter and instruction and SSA edges. The
nested Functions of a region instruction (`while`'s cond and body, `scan`'s body, each of
`cond`'s branches) are clusters drawn inside the cluster of the Function that holds the
instruction, labelled with the instruction and the role (`scan %1: body`), recursively.
Dashed edges run from the instruction's operands to the nested parameters they bind, and
from the nested `return` to the instruction's node.

Invariants: node and cluster ids are unique in the whole graph (each is the path of
Function, instruction and region indices that leads to it); every label is a quoted,
escaped string, so the text is valid DOT whatever the names.
"""
from __future__ import annotations

import re
from typing import Any

from .ir.core import Function, Instr
from .ir.printer import format_instr, function_labels, value_names
from .ir.prims.control import REGIONS


def to_dot(fns: list[Function]) -> str:
    """A Graphviz digraph of `fns`, one top-level cluster each (with nested clusters for
    the Functions of region instructions)."""
    lines = ["digraph tracejit {", '  rankdir=TB;', '  node [fontname="monospace"];']
    for k, fn in enumerate(fns):
        labels = function_labels(fn)[1]
        lines += _cluster(fn, f"f{k}", labels[id(fn)], "  ", labels)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster(fn: Function, pre: str, label: str, indent: str,
             labels: dict[int, str]) -> list[str]:
    """The lines of `fn`'s cluster (id `cluster_<pre>`), its region clusters nested.
    `labels` names Functions as the text form does (`@step#1`)."""
    inner = indent + "  "
    lines = [f'{indent}subgraph cluster_{pre} {{ label="{_esc(label)}";']
    node: dict[int, str] = {}
    names = value_names(fn)
    for i, p in enumerate(fn.params):
        nid = f"{pre}_p{i}"
        node[id(p)] = nid
        lines.append(f'{inner}{nid} [shape=ellipse, label="{_esc(p.hint or f"arg{i}")}: '
                     f'{p.type}"];')
    edges: list[str] = []
    for j, ins in enumerate(fn.instrs):
        nid = f"{pre}_i{j}"
        # "op {params} : type" (operands are the edges)
        text = format_instr(ins, labels=labels).split(" = ", 1)[-1]
        text = re.sub(r"^(\w+)\([^)]*\)", r"\1", text)
        if ins.prim in REGIONS:  # the out names, which the region clusters' labels use
            text = ", ".join(names[id(o)] for o in ins.outs) + " = " + text
        lines.append(f'{inner}{nid} [shape=box, label="{_esc(text)}"];')
        for x in ins.inputs:
            if id(x) in node:
                edges.append(f"{inner}{node[id(x)]} -> {nid};")
        if ins.prim in REGIONS:
            for m, (role, g, operands) in enumerate(_regions(ins)):
                gpre = f"{nid}_r{m}"
                gbind = {i: node[id(x)] for i, x in enumerate(operands)
                         if i < len(g.params) and id(x) in node}
                head = names[id(ins.outs[0])] if ins.outs else nid
                lines += _cluster(g, gpre, f"{ins.prim} {head}: {role} ({labels[id(g)]})",
                                  inner, labels)
                # cross edges live in this (enclosing) cluster: an edge statement makes its
                # ends members of the subgraph it is written in
                edges += [f"{inner}{src} -> {gpre}_p{i} [style=dashed];"
                          for i, src in sorted(gbind.items())]
                edges.append(f"{inner}{gpre}_ret -> {nid} [style=dashed];")
        for o in ins.outs:
            node[id(o)] = nid
    rid = f"{pre}_ret"
    lines.append(f'{inner}{rid} [shape=doublecircle, label="return"];')
    for r in fn.results:
        if id(r) in node:
            edges.append(f"{inner}{node[id(r)]} -> {rid};")
    lines += edges
    lines.append(indent + "}")
    return lines


def _regions(ins: Instr) -> list[tuple[str, Function, list[Any]]]:
    """(role, nested Function, the operands bound to its leading parameters) for each
    nested Function of the region instruction `ins`, in parameter order."""
    out: list[tuple[str, Function, list[Any]]] = []
    if ins.prim == "cond":  # every branch takes the operands after the branch index
        for b, g in enumerate(ins.params["branches"]):
            out.append((f"branch {b}", g, list(ins.inputs[1:])))
        return out
    for key in ("cond", "body"):  # while: cond and body; scan: body
        g = ins.params.get(key)
        if isinstance(g, Function):
            out.append((key, g, list(ins.inputs)))
    return out


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
