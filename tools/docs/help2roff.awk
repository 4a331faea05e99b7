# tools/docs/help2roff.awk — one awqkit --help text (stdin) to a man page
# body. Variables: title (AWQKIT-QUANTIZE), name (awqkit-quantize),
# summary (the NAME line), version, seealso (roff text for SEE ALSO).
# The help texts follow one shape (tools/cmd_*.c): "Usage:" lines, prose,
# headings ("Options:", "Examples:") at column 0 ending in ':', option
# lines "  -o, --output DIR   text" with continuations indented deeper.
function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    if (s ~ /^[.']/) s = "\\&" s
    return s
}
function flush_pre() { if (pre) { print ".fi"; print ".RE"; pre = 0 } flush_item() }
# An item's continuation lines: filled when they share one indent, else a
# sub-table (the values of an option, one per line) kept line by line.
function flush_item(   i, ragged) {
    ragged = 0
    for (i = 2; i <= ncont; i++) if (cind[i] != cind[1]) ragged = 1
    for (i = 1; i <= ncont; i++) {
        if (ragged) print ".br"
        print esc(cont[i])
    }
    ncont = 0
}
function heading(s) {
    flush_pre()
    sub(/:$/, "", s)
    print ".SH " toupper(esc(s))
    in_opts = (tolower(s) ~ /options|commands/)
    section_started = 1
}
function is_heading(s,   n, w) {
    # at column 0, ends in ':', at most three words, no parentheses
    if (s !~ /^[A-Za-z].*:$/ || s ~ /[()]/) return 0
    return split(s, w, " ") <= 3
}
BEGIN {
    printf ".TH %s 1 \"\" \"awqkit %s\" \"User Commands\"\n", esc(title), esc(version)
    print ".SH NAME"
    print esc(name) " \\- " esc(summary)
    state = "start"; pre = 0; in_opts = 0
}
# the synopsis: "Usage: ..." and the continuation lines under it
state == "start" && /^Usage: / {
    print ".SH SYNOPSIS"; print ".nf"
    line = $0; sub(/^Usage: +/, "", line); print esc(line)
    state = "usage"; next
}
state == "usage" && /^       [^ ]/ { line = $0; sub(/^ +/, "", line); print esc(line); next }
state == "usage" { print ".fi"; print ".SH DESCRIPTION"; state = "body" }
state == "start" { print ".SH DESCRIPTION"; state = "body" }
/^$/ { flush_pre(); if (!para_open) print ".PP"; para_open = 1; next }
{ para_open = 0 }
is_heading($0) { heading($0); next }
# a bullet: "  - text", continuations indented deeper
/^ +- / {
    flush_pre()
    line = $0; sub(/^ +- /, "", line)
    print ".IP \\(bu 2"
    print esc(line)
    opt_indent = length($0) - length(line) - 4; in_item = 1
    next
}
# an option (or a command in the command list): "  -x, --flag ARG   text"
/^ +--?[A-Za-z]/ || (in_opts && /^  [a-z]/) {
    flush_pre()
    line = $0; sub(/^ +/, "", line)
    indent = length($0) - length(line)
    n = match(line, /   *[^ ]/)
    if (n) { term = substr(line, 1, n - 1); desc = substr(line, n); sub(/^ +/, "", desc) }
    else { term = line; desc = "" }
    print ".TP"
    split(term, parts, " ")
    t = ""
    for (i = 1; i in parts; i++) {
        p = parts[i]
        if (p ~ /^-/ || (in_opts && i == 1 && p !~ /^[A-Z]/)) t = t (t ? " " : "") "\\fB" esc(p) "\\fR"
        else t = t " \\fI" esc(p) "\\fR"
    }
    print t
    if (desc != "") print esc(desc)
    opt_indent = indent; in_item = 1
    next
}
# continuation of an option's text (indented deeper than the option)
in_item && match($0, /^ +/) && RLENGTH > opt_indent + 2 {
    line = $0; sub(/^ +/, "", line)
    cont[++ncont] = line; cind[ncont] = RLENGTH
    next
}
{ in_item = 0; flush_item() }
# other indented lines: examples, lists — kept as laid out
/^ / {
    if (!pre) { print ".RS 2"; print ".nf"; pre = 1 }
    line = $0; sub(/^  /, "", line); print esc(line); next
}
{ flush_pre(); print esc($0) }
END {
    flush_pre()
    if (seealso != "") { print ".SH SEE ALSO"; print seealso }
}
