"""{{name}}: lists a folder (`notes` unless the input names another: {"dir": "docs"}), reads
each file in it and returns how many lines, words and bytes each has. A file the policy does
not let it read is reported as skipped, with the policies that refused it."""

from cordon_guest import AccessDenied, fs


def run(input):
    folder = (input or {}).get("dir", "notes")
    summary = {"dir": folder, "files": {}, "total": {"lines": 0, "words": 0, "bytes": 0},
               "skipped": {}}
    for entry in fs.list_dir(folder):
        if entry["kind"] != "file":
            continue
        name = entry["name"]
        try:
            text = fs.read_text(f"{folder}/{name}")
        except AccessDenied as denied:
            summary["skipped"][name] = denied.policy_ids
            continue
        counts = {"lines": len(text.splitlines()), "words": len(text.split()),
                  "bytes": len(text.encode())}
        # Lands in the report's `stdout`.
        print(f"read {folder}/{name}: {counts['lines']} lines")
        for key, value in counts.items():
            summary["total"][key] += value
        summary["files"][name] = counts
    return summary
