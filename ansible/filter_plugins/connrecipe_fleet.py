"""Filters of ansible/fleet-diagnose.yml: which ports to diagnose on a server
whose clients cannot reach it, and the aggregated report of a fleet run (a
structure for JSON, and its text). They run on the controller, in Ansible's
own Python; the managed hosts need connrecipe only."""

# verdicts that say the far side refused or dropped: its own view explains why
REMOTE_VERDICTS = ("remote-refused", "remote-timeout")


def _host_of(target):
    """The host part of HOST:PORT, [V6]:PORT or a bare host."""
    target = str(target)
    if target.startswith("["):
        return target[1:].split("]", 1)[0]
    if target.count(":") == 1:
        return target.rsplit(":", 1)[0]
    return target


def _addresses(hostvars, name):
    """The names a target may give an inventory host by."""
    names = {name}
    address = hostvars.get(name, {}).get("ansible_host")
    if address:
        names.add(str(address))
    return names


def _runs(hostvars, name, key):
    """A host's registered loop results under key ([] if it has none)."""
    registered = hostvars.get(name, {}).get(key) or {}
    return registered.get("results") or []


def _target_host(hostvars, hosts, target):
    """The inventory host a target names, or None."""
    wanted = _host_of(target)
    for name in hosts:
        if wanted in _addresses(hostvars, name):
            return name
    return None


def server_targets(hostvars, hosts, me, key="connrecipe_runs"):
    """The targets on host `me` that some client saw refused or timed out."""
    found = []
    for name in hosts:
        for run in _runs(hostvars, name, key):
            target = run.get("item")
            if (run.get("verdict") in REMOTE_VERDICTS and name != me
                    and _target_host(hostvars, hosts, target) == me and target not in found):
                found.append(target)
    return found


def _view(run):
    """One run's result as the report shows it."""
    if run.get("unreachable"):
        return {"verdict": "unreachable", "severity": "error", "msg": run.get("msg", ""), "process": None}
    if run.get("skipped"):
        return {"verdict": "skipped", "severity": "info", "msg": run.get("skip_reason", ""), "process": None}
    verdict = run.get("verdict")
    report = run.get("report") or {}
    findings = report.get("findings") or []
    evidence = findings[0].get("evidence") if findings else None
    return {
        "verdict": verdict or "module-error",
        "severity": run.get("severity") or "error",
        "msg": run.get("msg", ""),
        "process": run.get("process"),
        "evidence": evidence if isinstance(evidence, list) else ([evidence] if evidence else []),
        "fix": findings[0].get("fix") if findings else None,
    }


def _host_results(hostvars, name, key, targets):
    """target -> view for one host; a host that never ran gets 'unreachable'."""
    views = {}
    for run in _runs(hostvars, name, key):
        views[str(run.get("item"))] = _view(run)
    registered = hostvars.get(name, {}).get(key)
    if registered and not registered.get("results") and registered.get("unreachable"):
        for target in targets:
            views[target] = _view(registered)
    return views


def fleet(hostvars, hosts, targets, recipe="diagnose", key="connrecipe_runs", server_key="connrecipe_server_runs"):
    """The aggregated report of a fleet run, as a structure for JSON."""
    hosts = list(hosts)
    targets = [str(t) for t in targets]
    results, by_verdict, joined = {}, {}, []
    for name in hosts:
        views = _host_results(hostvars, name, key, targets)
        for target in targets:
            view = views.get(target) or {"verdict": "not-run", "severity": "error", "msg": "no result", "process": None}
            views[target] = view
            by_verdict.setdefault(view["verdict"], []).append({"host": name, "target": target})
        results[name] = views
    for name in hosts:
        for target in targets:
            client = results[name][target]
            server = _target_host(hostvars, hosts, target)
            if client["verdict"] not in REMOTE_VERDICTS or server is None or server == name:
                continue
            server_view = _host_results(hostvars, server, server_key, [target]).get(target)
            joined.append({"client": name, "target": target, "client_view": client,
                           "server": server, "server_view": server_view})
    return {
        "recipe": recipe,
        "targets": targets,
        "hosts": hosts,
        "results": results,
        "by_verdict": by_verdict,
        "matrix": [[results[name][t]["verdict"] for t in targets] for name in hosts],
        "joined": joined,
    }


def _table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def fleet_text(report):
    """The aggregated report as text."""
    targets, hosts = report["targets"], report["hosts"]
    lines = ["connrecipe fleet report: %s on %d host(s), %d target(s)" % (report["recipe"], len(hosts), len(targets)),
             "", "by verdict:"]
    for verdict in sorted(report["by_verdict"]):
        entries = report["by_verdict"][verdict]
        names = [e["host"] if len(targets) == 1 else "%s -> %s" % (e["host"], e["target"]) for e in entries]
        lines.append("  %s (%d): %s" % (verdict, len(entries), ", ".join(names)))
    lines += ["", "per host:"]
    rows = [("HOST", "TARGET", "VERDICT", "PROCESS", "HEADLINE")]
    for name in hosts:
        for target in targets:
            view = report["results"][name][target]
            rows.append((name, target, view["verdict"], view.get("process") or "-", view["msg"]))
    lines += ["  " + line for line in _table(rows)]
    if len(targets) > 1:
        lines += ["", "matrix (host x target):"]
        rows = [["HOST"] + targets] + [[name] + row for name, row in zip(hosts, report["matrix"])]
        lines += ["  " + line for line in _table(rows)]
    if report["joined"]:
        lines += ["", "client and server views:"]
        for j in report["joined"]:
            client, server = j["client_view"], j["server_view"]
            lines.append("  %s -> %s: %s: %s" % (j["client"], j["target"], client["verdict"], client["msg"]))
            if server is None:
                lines.append("    on %s: not diagnosed" % j["server"])
                continue
            lines.append("    on %s (the server): %s: %s" % (j["server"], server["verdict"], server["msg"]))
            for line in server.get("evidence") or []:
                lines.append("      %s" % line)
            if server.get("fix"):
                lines.append("      fix: %s" % server["fix"])
    return "\n".join(lines) + "\n"


class FilterModule(object):
    def filters(self):
        return {
            "connrecipe_server_targets": server_targets,
            "connrecipe_fleet": fleet,
            "connrecipe_fleet_text": fleet_text,
        }
