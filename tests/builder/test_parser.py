"""Dockerfile parser: instructions, directives, continuations, heredocs, errors."""

from __future__ import annotations

import pytest
from testlib import SEEDS

from freight.builder.parser import (
    ArgScope,
    DockerfileError,
    Heredoc,
    StageRefs,
    dump,
    expand_instruction,
    global_scope,
    instruction_vars,
    parse,
    parse_duration,
    parse_instructions,
    parse_mount,
    stage_refs,
    unconsumed_build_args,
)


def body_dump(text: str) -> str:
    """Dump of ``FROM base`` + text, without the FROM line."""
    out = dump(parse("FROM base\n" + text))
    assert out.startswith('(from "base")\n')
    return out[len('(from "base")\n'):]


# (id, instructions after "FROM base", expected dump)
BODY_CASES = [
    ("run-shell", "RUN echo hi", '(run "echo hi")\n'),
    ("run-keeps-inner-spaces", "RUN echo  a   b", '(run "echo  a   b")\n'),
    ("run-trailing-space-trimmed", "RUN echo hi   ", '(run "echo hi")\n'),
    ("run-json", 'RUN ["echo", "hi"]', '(run "echo" "hi")\n'),
    ("run-json-spaces", 'RUN   [ "a" , "b c" ]  ', '(run "a" "b c")\n'),
    ("run-json-empty", "RUN []", "(run)\n"),
    ("run-json-invalid-falls-back", "RUN [echo, hi]", '(run "[echo, hi]")\n'),
    ("run-json-single-quotes-is-shell", "RUN ['echo']", "(run \"['echo']\")\n"),
    ("run-json-trailing-text-is-shell", 'RUN ["a"] b', '(run "[\\"a\\"] b")\n'),
    ("run-json-object-is-shell", 'RUN {"a": 1}', '(run "{\\"a\\": 1}")\n'),
    ("run-json-unicode-escape", 'RUN ["caf\\u00e9"]', '(run "café")\n'),
    ("run-lowercase-keyword", "run echo hi", '(run "echo hi")\n'),
    ("run-mixed-case-keyword", "rUn echo hi", '(run "echo hi")\n'),
    ("run-tab-separator", "RUN\techo hi", '(run "echo hi")\n'),
    ("run-mount-flag", "RUN --mount=type=cache,target=/c make", '(run ["--mount=type=cache,target=/c"] "make")\n'),
    ("run-two-mounts", "RUN --mount=type=bind,target=/a --mount=type=tmpfs,target=/t ls",
     '(run ["--mount=type=bind,target=/a" "--mount=type=tmpfs,target=/t"] "ls")\n'),
    ("run-network-flag", "RUN --network=none true", '(run ["--network=none"] "true")\n'),
    ("run-security-flag", "RUN --security=insecure true", '(run ["--security=insecure"] "true")\n'),
    ("run-quoted-flag-value", 'RUN --mount="type=cache,target=/x y" ls',
     '(run ["--mount=type=cache,target=/x y"] "ls")\n'),
    ("run-double-dash-ends-flags", "RUN -- --not-a-flag", '(run "--not-a-flag")\n'),
    ("run-dash-word-not-flag", "RUN -x", '(run "-x")\n'),
    ("run-flag-after-command-is-arg", "RUN ls --network=none", '(run "ls --network=none")\n'),
    ("continuation", "RUN a \\\n  b", '(run "a   b")\n'),
    ("continuation-no-space", "RUN a\\\nb", '(run "ab")\n'),
    ("continuation-trailing-spaces", "RUN a \\   \n b", '(run "a  b")\n'),
    ("continuation-comment-skipped", "RUN a \\\n# note\n b", '(run "a  b")\n'),
    ("continuation-indented-comment-skipped", "RUN a \\\n   # note\n b", '(run "a  b")\n'),
    ("continuation-blank-line-skipped", "RUN a \\\n\n b", '(run "a  b")\n'),
    ("continuation-several", "RUN a \\\n b \\\n c", '(run "a  b  c")\n'),
    ("continuation-at-eof", "RUN a \\", '(run "a")\n'),
    ("escaped-backslash-not-continuation", "RUN echo a\\\\\nRUN b", '(run "echo a\\\\\\\\")\n(run "b")\n'),
    ("continuation-lone-backslash-line", "RUN a \\\n\\\n b", '(run "a  b")\n'),
    ("crlf-line-endings", "RUN a\r\nRUN b\r\n", '(run "a")\n(run "b")\n'),
    ("comment-lines", "# hi\nRUN a\n  # indented\nRUN b", '(run "a")\n(run "b")\n'),
    ("hash-inside-line-not-comment", "RUN echo # not a comment", '(run "echo # not a comment")\n'),
    ("blank-lines", "\n\n   \nRUN a\n\n", '(run "a")\n'),
    ("leading-whitespace-instruction", "    RUN a", '(run "a")\n'),
    ("cmd-shell", "CMD python3 app.py", '(cmd "python3 app.py")\n'),
    ("cmd-json", 'CMD ["python3", "app.py"]', '(cmd "python3" "app.py")\n'),
    ("cmd-empty", "CMD", "(cmd)\n"),
    ("cmd-json-empty", "CMD []", "(cmd)\n"),
    ("entrypoint-shell", "ENTRYPOINT exec app", '(entrypoint "exec app")\n'),
    ("entrypoint-json", 'ENTRYPOINT ["/bin/app", "--x"]', '(entrypoint "/bin/app" "--x")\n'),
    ("shell-json", 'SHELL ["/bin/bash", "-eo", "pipefail", "-c"]', '(shell "/bin/bash" "-eo" "pipefail" "-c")\n'),
    ("env-equals", "ENV A=1", '(env "A" "1")\n'),
    ("env-multi", 'ENV A=1 B="two words" C=', '(env "A" "1" "B" "\\"two words\\"" "C" "")\n'),
    ("env-legacy", "ENV A some value", '(env "A" "some value")\n'),
    ("env-legacy-keeps-spacing", "ENV A   x   y", '(env "A" "x   y")\n'),
    ("env-single-quoted", "ENV A='x y'", '(env "A" "\'x y\'")\n'),
    ("env-escaped-space", "ENV A=x\\ y", '(env "A" "x\\\\ y")\n'),
    ("env-value-with-equals", "ENV A=b=c", '(env "A" "b=c")\n'),
    ("env-var-reference-kept", "ENV PATH=/opt/bin:$PATH", '(env "PATH" "/opt/bin:$PATH")\n'),
    ("env-continuation", "ENV A=1 \\\n    B=2", '(env "A" "1" "B" "2")\n'),
    ("label-multi", 'LABEL a=b "c d"="e f"', '(label "a" "b" "\\"c d\\"" "\\"e f\\"")\n'),
    ("label-legacy", "LABEL version 1.0", '(label "version" "1.0")\n'),
    ("label-dotted-key", "LABEL org.opencontainers.image.title=x", '(label "org.opencontainers.image.title" "x")\n'),
    ("maintainer", "MAINTAINER Jane Doe <j@x.org>", '(maintainer "Jane Doe <j@x.org>")\n'),
    ("expose-several", "EXPOSE 80 443/tcp 53/udp", '(expose "80" "443/tcp" "53/udp")\n'),
    ("expose-variable", "EXPOSE $PORT", '(expose "$PORT")\n'),
    ("add-basic", "ADD a.tar.gz /opt/", '(add "a.tar.gz" "/opt/")\n'),
    ("add-url-checksum", "ADD --checksum=sha256:abc https://x/y.tgz /y",
     '(add ["--checksum=sha256:abc"] "https://x/y.tgz" "/y")\n'),
    ("add-keep-git-dir", "ADD --keep-git-dir=true https://g/r.git /src",
     '(add ["--keep-git-dir=true"] "https://g/r.git" "/src")\n'),
    ("add-json", 'ADD ["a b", "/c d/"]', '(add "a b" "/c d/")\n'),
    ("copy-basic", "COPY app.py /app/app.py", '(copy "app.py" "/app/app.py")\n'),
    ("copy-several-sources", "COPY a b c /d/", '(copy "a" "b" "c" "/d/")\n'),
    ("copy-quotes-not-grouped", 'COPY "a b" /c', '(copy "\\"a" "b\\"" "/c")\n'),
    ("copy-from-chown-chmod", "COPY --from=build --chown=1:2 --chmod=755 /out /bin/",
     '(copy ["--from=build" "--chown=1:2" "--chmod=755"] "/out" "/bin/")\n'),
    ("copy-link-parents", "COPY --link --parents a/./b /d", '(copy ["--link" "--parents"] "a/./b" "/d")\n'),
    ("copy-excludes", "COPY --exclude=*.md --exclude=tmp . /app",
     '(copy ["--exclude=*.md" "--exclude=tmp"] "." "/app")\n'),
    ("copy-json", 'COPY ["src", "/dst"]', '(copy "src" "/dst")\n'),
    ("copy-json-invalid-is-words", "COPY [src, /dst]", '(copy "[src," "/dst]")\n'),
    ("volume-json", 'VOLUME ["/data", "/logs"]', '(volume "/data" "/logs")\n'),
    ("volume-words", "VOLUME /data /logs", '(volume "/data" "/logs")\n'),
    ("user", "USER app:app", '(user "app:app")\n'),
    ("user-with-spaces-is-one-arg", "WORKDIR /my dir", '(workdir "/my dir")\n'),
    ("workdir", "WORKDIR /app", '(workdir "/app")\n'),
    ("stopsignal", "STOPSIGNAL SIGKILL", '(stopsignal "SIGKILL")\n'),
    ("arg-name", "ARG VERSION", '(arg "VERSION")\n'),
    ("arg-default", "ARG VERSION=1.0", '(arg "VERSION=1.0")\n'),
    ("arg-several", 'ARG A B=2 C="x y"', '(arg "A" "B=2" "C=\\"x y\\"")\n'),
    ("onbuild-run", "ONBUILD RUN make", '(onbuild (run "make"))\n'),
    ("onbuild-copy-flags", "ONBUILD COPY --chown=1 . /src", '(onbuild (copy ["--chown=1"] "." "/src"))\n'),
    ("onbuild-lowercase", "onbuild add . /app", '(onbuild (add "." "/app"))\n'),
    ("healthcheck-none", "HEALTHCHECK NONE", '(healthcheck "NONE")\n'),
    ("healthcheck-cmd-shell", "HEALTHCHECK CMD curl -f http://x/", '(healthcheck "CMD" "curl -f http://x/")\n'),
    ("healthcheck-cmd-json", 'HEALTHCHECK CMD ["curl", "-f"]', '(healthcheck "CMD" "curl" "-f")\n'),
    ("healthcheck-flags",
     "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=2s --retries=4 CMD true",
     '(healthcheck ["--interval=5s" "--timeout=3s" "--start-period=1m" "--start-interval=2s" "--retries=4"] '
     '"CMD" "true")\n'),
    ("heredoc-run", "RUN <<EOF\necho a\necho b\nEOF", '(run "<<EOF" (heredoc "EOF" "echo a\\necho b\\n"))\n'),
    ("heredoc-then-next-instruction", "RUN <<EOF\nx\nEOF\nRUN y", '(run "<<EOF" (heredoc "EOF" "x\\n"))\n(run "y")\n'),
    ("heredoc-in-command", "RUN cat <<EOF > /f\nhi\nEOF", '(run "cat <<EOF > /f" (heredoc "EOF" "hi\\n"))\n'),
    ("heredoc-two", "RUN cat <<A <<B\n1\nA\n2\nB",
     '(run "cat <<A <<B" (heredoc "A" "1\\n") (heredoc "B" "2\\n"))\n'),
    ("heredoc-chomp", "RUN <<-EOF\n\techo a\n\tEOF", '(run "<<-EOF" (heredoc chomp "EOF" "\\techo a\\n"))\n'),
    ("heredoc-double-quoted-no-expand", 'RUN <<"EOF"\n$x\nEOF',
     '(run "<<\\"EOF\\"" (heredoc noexpand "EOF" "$x\\n"))\n'),
    ("heredoc-single-quoted-no-expand", "RUN <<'EOF'\n$x\nEOF", '(run "<<\'EOF\'" (heredoc noexpand "EOF" "$x\\n"))\n'),
    ("heredoc-copy", "COPY <<EOF /etc/conf\nk=v\nEOF", '(copy "<<EOF" "/etc/conf" (heredoc "EOF" "k=v\\n"))\n'),
    ("heredoc-add-two-files", "ADD <<one <<two /dest/\n1\none\n2\ntwo",
     '(add "<<one" "<<two" "/dest/" (heredoc "one" "1\\n") (heredoc "two" "2\\n"))\n'),
    ("heredoc-body-keeps-blank-and-hash-lines", "RUN <<EOF\n# not a comment\n\n  indented \\\nEOF",
     '(run "<<EOF" (heredoc "EOF" "# not a comment\\n\\n  indented \\\\\\n"))\n'),
    ("heredoc-empty-body", "RUN <<EOF\nEOF", '(run "<<EOF" (heredoc "EOF" ""))\n'),
    ("heredoc-crlf-terminator", "RUN <<EOF\r\na\r\nEOF\r\n", '(run "<<EOF" (heredoc "EOF" "a\\r\\n"))\n'),
    ("heredoc-not-in-json-form", 'RUN ["cat", "<<EOF"]', '(run "cat" "<<EOF")\n'),
    ("heredoc-not-for-cmd", "CMD cat <<EOF", '(cmd "cat <<EOF")\n'),
    ("heredoc-quoted-word-is-not-heredoc", 'RUN echo "<<EOF"', '(run "echo \\"<<EOF\\"")\n'),
    ("heredoc-fd", "RUN 3<<EOF cat /dev/fd/3\nx\nEOF", '(run "3<<EOF cat /dev/fd/3" (heredoc "EOF" "x\\n"))\n'),
    ("heredoc-onbuild", "ONBUILD RUN <<EOF\nmake\nEOF", '(onbuild (run "<<EOF") (heredoc "EOF" "make\\n"))\n'),
    ("heredoc-terminator-must-match-exactly", "RUN <<EOF\nEOF \nEOF", '(run "<<EOF" (heredoc "EOF" "EOF \\n"))\n'),
    ("heredoc-space-after-marker", "RUN <<  EOF\nEOF", '(run "<<  EOF" (heredoc "EOF" ""))\n'),
    ("heredoc-space-before-dash", "RUN << -EOF\nx\n-EOF", '(run "<< -EOF" (heredoc "-EOF" "x\\n"))\n'),
    ("heredoc-partly-quoted", "RUN <<eo'f'\nx\neof", '(run "<<eo\'f\'" (heredoc noexpand "eof" "x\\n"))\n'),
    ("heredoc-escaped-quote-expands", "RUN <<eo\\'f\nx\neo'f", '(run "<<eo\\\\\'f" (heredoc "eo\'f" "x\\n"))\n'),
    ("heredoc-quoted-with-space", "RUN <<'one two'\nx\none two",
     '(run "<<\'one two\'" (heredoc noexpand "one two" "x\\n"))\n'),
    ("heredoc-dollar-name", "RUN <<$EOF\n$EOF", '(run "<<$EOF" (heredoc "$EOF" ""))\n'),
    ("heredoc-bodies-read-in-order", "COPY <<X <<Y /d\nY\nX\nX\nY",
     '(copy "<<X" "<<Y" "/d" (heredoc "X" "Y\\n") (heredoc "Y" "X\\n"))\n'),
    ("heredoc-with-interpreter-arg", "RUN <<EOF python3\nprint(1)\nEOF",
     '(run "<<EOF python3" (heredoc "EOF" "print(1)\\n"))\n'),
    ("heredoc-after-continuation", "RUN cat \\\n <<EOF\nz\nEOF", '(run "cat  <<EOF" (heredoc "EOF" "z\\n"))\n'),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in BODY_CASES], ids=[c[0] for c in BODY_CASES])
def test_instruction_dump(text: str, expected: str) -> None:
    assert body_dump(text) == expected


# (id, whole Dockerfile, expected dump)
FILE_CASES = [
    ("from-only", "FROM ubuntu", '(from "ubuntu")\n'),
    ("from-as", "FROM ubuntu:noble AS build", '(from "ubuntu:noble" "AS" "build")\n'),
    ("from-platform", "FROM --platform=$BUILDPLATFORM golang AS b",
     '(from ["--platform=$BUILDPLATFORM"] "golang" "AS" "b")\n'),
    ("from-digest", "FROM busybox@sha256:" + "a" * 64, '(from "busybox@sha256:' + "a" * 64 + '")\n'),
    ("arg-before-from", "ARG V=1\nFROM base:$V", '(arg "V=1")\n(from "base:$V")\n'),
    ("bom-stripped", "\ufeffFROM a", '(from "a")\n'),
    ("no-trailing-newline", "FROM a\nRUN b", '(from "a")\n(run "b")\n'),
    ("escape-backtick-continuation", "# escape=`\nFROM a\nRUN a `\n b", '(from "a")\n(run "a  b")\n'),
    ("escape-backtick-keeps-backslash", "# escape=`\nFROM a\nCOPY c:\\src c:\\dst",
     '(from "a")\n(copy "c:\\\\src" "c:\\\\dst")\n'),
    ("escape-backslash-explicit", "# escape=\\\nFROM a\nRUN x \\\n y", '(from "a")\n(run "x  y")\n'),
    ("escape-after-instruction-is-comment", "FROM a\n# escape=`\nRUN x \\\n y", '(from "a")\n(run "x  y")\n'),
    ("escape-after-blank-line-ignored", "\n# escape=`\nFROM a\nRUN x \\\n y", '(from "a")\n(run "x  y")\n'),
    ("escape-after-comment-ignored", "# hello\n# escape=`\nFROM a\nRUN x \\\n y", '(from "a")\n(run "x  y")\n'),
    ("multi-stage", "FROM a AS one\nRUN x\nFROM b\nCOPY --from=one /x /y",
     '(from "a" "AS" "one")\n(run "x")\n(from "b")\n(copy ["--from=one"] "/x" "/y")\n'),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_file_dump(text: str, expected: str) -> None:
    assert dump(parse(text)) == expected


# (id, whole Dockerfile, exact error string)
ERROR_CASES = [
    ("unknown-instruction", "FROM a\nRUN x\nRUNN y", "Dockerfile:3: unknown instruction: RUNN"),
    ("unknown-instruction-upper-cased", "FROM a\nfrobnicate", "Dockerfile:2: unknown instruction: FROBNICATE"),
    ("unknown-after-continuation", "FROM a\nRUN x \\\n y\nBAD", "Dockerfile:4: unknown instruction: BAD"),
    ("no-instructions", "# just a comment\n\n", "Dockerfile:2: file with no instructions"),
    ("empty-file", "", "Dockerfile:1: file with no instructions"),
    ("instruction-before-from", "RUN x\nFROM a", "Dockerfile:1: no build stage in current context"),
    ("env-before-from", "ARG A\nENV B=1\nFROM a", "Dockerfile:2: no build stage in current context"),
    ("only-args", "ARG A\nARG B", "Dockerfile: dockerfile contains no stages to build"),
    ("unknown-flag", "FROM a\nRUN x\nRUN y\nRUN z\nCOPY --foo=1 a b", "Dockerfile:5: unknown flag: foo"),
    ("unknown-flag-on-workdir", "FROM a\nWORKDIR --x /a", "Dockerfile:2: unknown flag: x"),
    ("copy-flag-on-add", "FROM a\nADD --from=b x y", "Dockerfile:2: unknown flag: from"),
    ("duplicate-flag", "FROM a\nCOPY --chown=1 --chown=2 a b", "Dockerfile:2: duplicate flag specified: chown"),
    ("flag-missing-value", "FROM a\nCOPY --from a b", "Dockerfile:2: missing a value on flag: from"),
    ("bool-flag-bad-value", "FROM a\nCOPY --link=maybe a b",
     "Dockerfile:2: expecting boolean value for flag link, not: maybe"),
    ("bool-flag-empty-value", "FROM a\nCOPY --link= a b", "Dockerfile:2: missing a value on flag: link"),
    ("env-blank-name", "FROM a\nENV =x", "Dockerfile:2: ENV names can not be blank"),
    ("env-no-value", "FROM a\nENV A", "Dockerfile:2: ENV must have two arguments"),
    ("env-empty", "FROM a\nENV", "Dockerfile:2: ENV requires at least one argument"),
    ("env-missing-equals", "FROM a\nENV A=1 B",
     'Dockerfile:2: Syntax error - can\'t find = in "B". Must be of the form: name=value'),
    ("label-blank-name", "FROM a\nLABEL =x", "Dockerfile:2: LABEL names can not be blank"),
    ("label-empty", "FROM a\nLABEL", "Dockerfile:2: LABEL requires at least one argument"),
    ("arg-empty", "FROM a\nARG", "Dockerfile:2: ARG requires at least one argument"),
    ("arg-blank-name", "FROM a\nARG =1", "Dockerfile:2: ARG names can not be blank"),
    ("copy-one-arg", "FROM a\nCOPY a",
     "Dockerfile:2: COPY requires at least two arguments, but only one was provided. "
     "Destination could not be determined"),
    ("add-no-arg", "FROM a\nADD",
     "Dockerfile:2: ADD requires at least two arguments, but only one was provided. "
     "Destination could not be determined"),
    ("copy-heredoc-destination", "FROM a\nCOPY x <<EOF\nhi\nEOF",
     "Dockerfile:2: COPY cannot accept a heredoc as a destination"),
    ("from-no-args", "FROM", "Dockerfile:1: FROM requires either one or three arguments"),
    ("from-two-args", "FROM a b", "Dockerfile:1: FROM requires either one or three arguments"),
    ("from-bad-as", "FROM a FOR b", "Dockerfile:1: FROM requires either one or three arguments"),
    ("from-bad-stage-name", "FROM a AS 1st",
     'Dockerfile:1: invalid name for build stage: "1st", name can\'t start with a number or contain symbols'),
    ("from-unknown-flag", "FROM --arch=x a", "Dockerfile:1: unknown flag: arch"),
    ("workdir-empty", "FROM a\nWORKDIR", "Dockerfile:2: WORKDIR requires exactly one argument"),
    ("user-empty", "FROM a\nUSER", "Dockerfile:2: USER requires exactly one argument"),
    ("maintainer-empty", "FROM a\nMAINTAINER", "Dockerfile:2: MAINTAINER requires exactly one argument"),
    ("stopsignal-empty", "FROM a\nSTOPSIGNAL", "Dockerfile:2: STOPSIGNAL requires exactly one argument"),
    ("expose-empty", "FROM a\nEXPOSE", "Dockerfile:2: EXPOSE requires at least one argument"),
    ("volume-empty", "FROM a\nVOLUME", "Dockerfile:2: VOLUME requires at least one argument"),
    ("volume-blank-json", 'FROM a\nVOLUME ["/a", " "]', "Dockerfile:2: VOLUME specified can not be an empty string"),
    ("shell-not-json", "FROM a\nSHELL /bin/bash -c", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
    ("shell-empty-json", "FROM a\nSHELL []", "Dockerfile:2: SHELL requires at least one argument"),
    ("json-non-string", 'FROM a\nCMD ["a", 1]',
     "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"),
    ("json-null", 'FROM a\nENTRYPOINT ["a", null]',
     "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"),
    ("onbuild-onbuild", "FROM a\nONBUILD ONBUILD RUN x",
     "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("onbuild-from", "FROM a\nONBUILD FROM b", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
    ("onbuild-maintainer", "FROM a\nONBUILD maintainer me",
     "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("onbuild-empty", "FROM a\nONBUILD", "Dockerfile:2: ONBUILD requires at least one argument"),
    ("healthcheck-empty", "FROM a\nHEALTHCHECK", "Dockerfile:2: HEALTHCHECK requires at least one argument"),
    ("healthcheck-none-args", "FROM a\nHEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
    ("healthcheck-bad-type", "FROM a\nHEALTHCHECK RUN x", 'Dockerfile:2: Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("healthcheck-missing-cmd", "FROM a\nHEALTHCHECK CMD", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
    ("healthcheck-bad-duration", "FROM a\nHEALTHCHECK --interval=5 CMD x",
     'Dockerfile:2: time: missing unit in duration "5"'),
    ("healthcheck-tiny-interval", "FROM a\nHEALTHCHECK --timeout=10us CMD x",
     'Dockerfile:2: Interval "timeout" cannot be less than 1ms'),
    ("healthcheck-negative-retries", "FROM a\nHEALTHCHECK --retries=-1 CMD x",
     "Dockerfile:2: --retries cannot be negative (-1)"),
    ("healthcheck-bad-retries", "FROM a\nHEALTHCHECK --retries=x CMD y",
     'Dockerfile:2: strconv.ParseInt: parsing "x": invalid syntax'),
    ("healthcheck-unknown-flag", "FROM a\nHEALTHCHECK --every=1s CMD y", "Dockerfile:2: unknown flag: every"),
    ("run-bad-network", "FROM a\nRUN --network=bridge x", 'Dockerfile:2: unsupported network mode "bridge"'),
    ("run-bad-security", "FROM a\nRUN --security=x y", 'Dockerfile:2: unsupported security mode "x"'),
    ("run-bad-mount-type", "FROM a\nRUN --mount=type=nfs,target=/x y", 'Dockerfile:2: unsupported mount type "nfs"'),
    ("run-mount-bad-key", "FROM a\nRUN --mount=target=/x,colour=red y",
     "Dockerfile:2: unexpected key 'colour' in 'colour=red'"),
    ("run-mount-bare-field", "FROM a\nRUN --mount=target=/x,foo y",
     "Dockerfile:2: invalid field 'foo' must be a key=value pair"),
    ("run-mount-sharing-on-bind", "FROM a\nRUN --mount=target=/x,sharing=locked y",
     "Dockerfile:2: invalid cache sharing set for bind mount"),
    ("run-mount-mode-on-bind", "FROM a\nRUN --mount=target=/x,mode=0700 y",
     'Dockerfile:2: mode not allowed for "bind" type mounts'),
    ("run-secret-no-target", "FROM a\nRUN --mount=type=secret y",
     "Dockerfile:2: invalid secret mount. one of source, target required"),
    ("run-empty", "FROM a\nRUN", "Dockerfile:2: RUN requires at least one argument"),
    ("run-empty-continuation-at-eof", "FROM a\nRUN \\", "Dockerfile:2: RUN requires at least one argument"),
    ("lone-continuation-at-eof", "FROM a\n\\", "Dockerfile:2: unexpected end of file after a line continuation"),
    ("unterminated-heredoc", "FROM a\nRUN <<EOF\necho hi\n", "Dockerfile:2: unterminated heredoc"),
    ("unterminated-second-heredoc", "FROM a\nRUN cat <<A <<B\n1\nA\n2", "Dockerfile:2: unterminated heredoc"),
    ("duplicate-escape-directive", "# escape=`\n# escape=\\\nFROM a",
     "Dockerfile:2: only one escape parser directive can be used"),
    ("duplicate-syntax-directive", "# syntax=a\n# syntax=b\nFROM a",
     "Dockerfile:2: only one syntax parser directive can be used"),
    ("bad-escape-directive", "# escape=x\nFROM a", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
    ("heredoc-not-for-user", "FROM a\nUSER <<X\nX", "Dockerfile:3: unknown instruction: X"),
    ("error-line-after-heredoc", "FROM a\nRUN <<EOF\n1\n2\nEOF\nNOPE", "Dockerfile:6: unknown instruction: NOPE"),
    ("error-line-after-continuation-comments", "FROM a\nRUN a \\\n# c\n\n b\nCOPY x",
     "Dockerfile:6: COPY requires at least two arguments, but only one was provided. "
     "Destination could not be determined"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_errors(text: str, expected: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert str(info.value) == expected
    assert info.value.exit_code == 1


FULL_DOCKERFILE = """\
# syntax=docker/dockerfile:1
# check=skip=JSONArgsRecommended
ARG BASE=python:3.12-slim
FROM --platform=$BUILDPLATFORM ${BASE} AS Builder
ARG PIP_INDEX
ENV PYTHONDONTWRITEBYTECODE=1 \\
    APP_HOME="/srv/app"
WORKDIR $APP_HOME
COPY --chown=app:app --chmod=0644 requirements.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \\
    # pip caches wheels here
    pip install -r requirements.txt
COPY <<EOF /etc/app.conf
name=${APP_HOME}
EOF

FROM python:3.12-slim
LABEL org.opencontainers.image.title="demo app" version=1
COPY --from=builder /srv/app /srv/app
EXPOSE 8000/tcp
VOLUME ["/data"]
USER 1000:1000
HEALTHCHECK --interval=30s --retries=3 CMD curl -fsS http://localhost:8000/ || exit 1
STOPSIGNAL SIGINT
SHELL ["/bin/sh", "-ec"]
ONBUILD COPY . /srv/app
ENTRYPOINT ["python", "-m", "app"]
CMD ["--port", "8000"]
"""

FULL_DUMP = """\
(arg "BASE=python:3.12-slim")
(from ["--platform=$BUILDPLATFORM"] "${BASE}" "AS" "Builder")
(arg "PIP_INDEX")
(env "PYTHONDONTWRITEBYTECODE" "1" "APP_HOME" "\\"/srv/app\\"")
(workdir "$APP_HOME")
(copy ["--chown=app:app" "--chmod=0644"] "requirements.txt" "./")
(run ["--mount=type=cache,target=/root/.cache/pip"] "pip install -r requirements.txt")
(copy "<<EOF" "/etc/app.conf" (heredoc "EOF" "name=${APP_HOME}\\n"))
(from "python:3.12-slim")
(label "org.opencontainers.image.title" "\\"demo app\\"" "version" "1")
(copy ["--from=builder"] "/srv/app" "/srv/app")
(expose "8000/tcp")
(volume "/data")
(user "1000:1000")
(healthcheck ["--interval=30s" "--retries=3"] "CMD" "curl -fsS http://localhost:8000/ || exit 1")
(stopsignal "SIGINT")
(shell "/bin/sh" "-ec")
(onbuild (copy "." "/srv/app"))
(entrypoint "python" "-m" "app")
(cmd "--port" "8000")
"""


def test_full_dockerfile_dump() -> None:
    df = parse(FULL_DOCKERFILE)
    assert dump(df) == FULL_DUMP
    assert df.directives == {"syntax": "docker/dockerfile:1", "check": "skip=JSONArgsRecommended"}
    assert [(s.name, s.line) for s in df.stages] == [("builder", 4), ("", 17)]
    assert [i.line for i in df.stages[0].instructions] == [5, 6, 8, 9, 10, 13]


def test_error_names_the_file_and_line_attribute() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM a\n\nRUNN x", filename="web.Dockerfile")
    assert str(info.value) == "web.Dockerfile:3: unknown instruction: RUNN"
    assert info.value.line == 3


def test_parser_errors_come_before_instruction_errors() -> None:
    # BuildKit reads the whole file before validating instructions.
    with pytest.raises(DockerfileError, match="unterminated heredoc"):
        parse("FROM a\nRUNN x\nRUN <<EOF\n")


def test_instruction_fields() -> None:
    df = parse("FROM a\nRUN echo a \\\n  b\nCOPY --from=x . /y\n")
    run, copy = df.stages[0].instructions
    assert (run.keyword, run.line, run.end_line) == ("RUN", 2, 3)
    assert run.original == "RUN echo a   b"
    assert run.args == ["echo a   b"] and not run.json_form
    assert copy.flags == {"from": ["x"]} and copy.raw_flags == ["--from=x"]
    assert (copy.line, copy.end_line) == (4, 4)


def test_heredoc_lines_count_toward_end_line() -> None:
    df = parse("FROM a\nRUN <<EOF\n1\n2\nEOF\nRUN b")
    first, second = df.stages[0].instructions
    assert (first.line, first.end_line) == (2, 5)
    assert second.line == 6


def test_stages_and_global_args() -> None:
    df = parse(
        "ARG BASE=alpine\nARG TAG\nFROM --platform=$BUILDPLATFORM $BASE:${TAG:-3} AS Build\n"
        "RUN make\nFROM scratch\nCOPY --from=build /out /\n"
    )
    assert [a.arg_pairs() for a in df.global_args] == [[("BASE", "alpine")], [("TAG", None)]]
    build, final = df.stages
    assert (build.name, build.base, build.platform, build.line) == ("build", "$BASE:${TAG:-3}", "$BUILDPLATFORM", 3)
    assert (final.name, final.base, final.platform, final.line) == ("", "scratch", "", 5)
    assert df.stage("BUILD") is build
    assert [i.keyword for i in final.instructions] == ["COPY"]
    for missing in ("nope", "1"):
        with pytest.raises(DockerfileError) as info:
            df.stage(missing)
        assert str(info.value) == f'Dockerfile: target stage "{missing}" could not be found'


def test_duplicate_and_reserved_stage_names_warn() -> None:
    df = parse("FROM a AS x\nFROM b AS X\nFROM c AS scratch\n")
    assert df.warnings == [
        'Dockerfile:2: DuplicateStageName: Duplicate stage name "x", stage names should be unique',
        "Dockerfile:3: ReservedStageName: 'scratch' is reserved and should not be used as a stage name",
    ]
    assert df.stage("x") is df.stages[1]


def test_directives() -> None:
    df = parse("# syntax=docker/dockerfile:1.7\n#check=skip=all\n# escape=`\nFROM a\n")
    assert df.directives == {"syntax": "docker/dockerfile:1.7", "check": "skip=all", "escape": "`"}
    assert df.escape == "`" and df.syntax == "docker/dockerfile:1.7"


def test_directive_with_spaces_and_case() -> None:
    df = parse("#  ESCAPE = `  \nFROM a\n")
    assert df.escape == "`"


def test_unknown_directive_ends_directives() -> None:
    df = parse("# foo=bar\n# escape=`\nFROM a\n")
    assert df.directives == {} and df.escape == "\\"


def test_empty_continuation_line_warns() -> None:
    df = parse("FROM a\nRUN a \\\n\n b\n")
    assert len(df.warnings) == 1 and "Dockerfile:2" in df.warnings[0]


def test_key_values_and_arg_pairs() -> None:
    df = parse('FROM a\nENV A=1 B="x y"\nLABEL k v w\nARG X Y=2 Z=\n')
    env, label, arg = df.stages[0].instructions
    assert env.key_values() == [("A", "1"), ("B", '"x y"')]
    assert label.key_values() == [("k", "v w")]
    assert arg.arg_pairs() == [("X", None), ("Y", "2"), ("Z", "")]


def test_copy_spec() -> None:
    df = parse(
        "FROM a\nCOPY --from=b --chown=1:2 --chmod=0644 --link --parents --exclude=*.md --exclude=x s1 s2 /d/\n"
        "ADD --checksum=sha256:00 --keep-git-dir --unpack=false https://x/r.git /src\n"
        "COPY <<A <<-B /etc/\nalpha\nA\n\tbeta\n\tB\n"
    )
    copy, add, inline = df.stages[0].instructions
    spec = copy.copy_spec()
    assert (spec.sources, spec.dest, spec.from_, spec.chown, spec.chmod) == (["s1", "s2"], "/d/", "b", "1:2", "0644")
    assert spec.link and spec.parents and spec.excludes == ["*.md", "x"] and spec.unpack is None
    addspec = add.copy_spec()
    assert addspec.checksum == "sha256:00" and addspec.keep_git_dir and addspec.unpack is False
    inl = inline.copy_spec()
    assert inl.sources == [] and inl.dest == "/etc/"
    assert [(h.name, h.content, h.chomp) for h in inl.contents] == [("A", "alpha\n", False), ("B", "\tbeta\n", True)]
    assert inl.contents[1].body == "beta\n"


def test_command_forms() -> None:
    df = parse('FROM a\nRUN echo hi\nCMD ["a", "b"]\nENTRYPOINT []\n')
    run, cmd, entry = df.stages[0].instructions
    assert run.command().args == ["echo hi"] and run.command().prepend_shell
    assert cmd.command().args == ["a", "b"] and not cmd.command().prepend_shell
    assert entry.command().args == [] and entry.json_form


def test_heredoc_script_simple() -> None:
    run = parse("FROM a\nRUN <<EOF\necho 1\necho 2\nEOF\n").stages[0].instructions[0]
    assert run.command().script() == (["echo 1\necho 2\n"], None)


def test_heredoc_script_shebang_runs_as_file() -> None:
    run = parse("FROM a\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n").stages[0].instructions[0]
    args, file = run.command().script()
    assert args == [] and file == Heredoc("EOF", "#!/usr/bin/env python3\nprint(1)\n")


def test_heredoc_script_embedded() -> None:
    run = parse("FROM a\nRUN cat <<EOF > /x\nhello\nEOF\n").stages[0].instructions[0]
    assert run.command().script() == (["cat <<EOF > /x\nhello\nEOF"], None)


def test_heredoc_chomped_script() -> None:
    run = parse("FROM a\nRUN <<-EOF\n\techo 1\n\tEOF\n").stages[0].instructions[0]
    assert run.command().script() == (["echo 1\n"], None)


def test_healthcheck_accessor() -> None:
    df = parse(
        "FROM a\nHEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s --retries=3 "
        "CMD curl -f http://x/\nHEALTHCHECK CMD [\"true\"]\nHEALTHCHECK none\n"
    )
    full, exec_form, none = (i.healthcheck() for i in df.stages[0].instructions)
    assert full.test == ["CMD-SHELL", "curl -f http://x/"]
    assert (full.interval, full.timeout, full.start_period, full.start_interval, full.retries) == (
        90 * 10**9, 5 * 10**8, 2 * 10**9, 10**9, 3)
    assert exec_form.test == ["CMD", "true"] and exec_form.interval == 0
    assert none.test == ["NONE"]


def test_run_mounts_network_security() -> None:
    run = parse(
        "FROM a\nRUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=10 "
        "--mount=type=secret,id=tok,required --mount=from=b,source=/o,target=/i,rw "
        "--network=host --security=insecure make\n"
    ).stages[0].instructions[0]
    cache, secret, bind = run.mounts()
    assert (cache.type, cache.target, cache.id, cache.sharing, cache.mode, cache.uid, cache.readonly) == (
        "cache", "/root/.cache", "pip", "locked", 0o755, 10, False)
    assert (secret.type, secret.id, secret.required, secret.readonly) == ("secret", "tok", True, True)
    assert (bind.type, bind.from_, bind.source, bind.target, bind.readonly) == ("bind", "b", "/o", "/i", False)
    assert run.network() == "host" and run.security() == "insecure"


def test_mount_defaults_and_expansion() -> None:
    assert parse_mount("target=/x").readonly is True
    assert parse_mount("type=tmpfs,target=/t,size=64m").size == 64 << 20
    mount = parse_mount("type=cache,target=$DIR,id=${ID:-d},from=$DIR", {"DIR": "/cache"})
    assert (mount.target, mount.id, mount.from_) == ("/cache", "d", "$DIR")
    assert parse_mount('type=bind,"source=a,b",target=/x').source == "a,b"


def test_mount_expansion_through_instruction() -> None:
    run = parse("FROM a\nRUN --mount=type=cache,target=${CACHE} true\n").stages[0].instructions[0]
    assert run.mounts({"CACHE": "/c"})[0].target == "/c"
    assert instruction_vars(run) == {"CACHE"}


def test_onbuild_trigger_and_expression() -> None:
    df = parse("FROM a\nONBUILD COPY --chown=1 . /app\nONBUILD RUN <<EOF\nmake\nEOF\n")
    copy, run = df.stages[0].instructions
    assert copy.trigger is not None and copy.trigger.keyword == "COPY"
    assert copy.trigger.raw_flags == ["--chown=1"] and copy.trigger.args == [".", "/app"]
    assert copy.onbuild_expression() == "COPY --chown=1 . /app"
    assert run.onbuild_expression() == "RUN <<EOF\nmake\nEOF"
    assert run.trigger is not None and run.trigger.heredocs[0].content == "make\n"


def test_onbuild_trigger_is_validated_only_when_triggered() -> None:
    # Docker accepts a bad trigger in the parent and fails in the child build.
    df = parse("FROM a\nONBUILD RUNN x\n")
    expression = df.stages[0].instructions[0].onbuild_expression()
    with pytest.raises(DockerfileError, match="unknown instruction: RUNN"):
        parse_instructions(expression)


def test_parse_instructions_for_triggers() -> None:
    instrs = parse_instructions("RUN <<EOF\nmake\nEOF\nCOPY . /app")
    assert [i.keyword for i in instrs] == ["RUN", "COPY"]
    assert instrs[0].heredocs[0].content == "make\n"


def test_ports_sorted() -> None:
    expose = parse("FROM a\nEXPOSE 8080 443 80/udp\n").stages[0].instructions[0]
    assert expose.ports() == ["443", "80/udp", "8080"]


def test_shell_accessor() -> None:
    shell = parse('FROM a\nSHELL ["/bin/bash", "-c"]\n').stages[0].instructions[0]
    assert shell.shell() == ["/bin/bash", "-c"]


def test_volume_json_values_trimmed() -> None:
    volume = parse('FROM a\nVOLUME [" /data "]\n').stages[0].instructions[0]
    assert volume.args == ["/data"]


def test_stopsignal_ignores_flags_like_buildkit() -> None:
    stop = parse("FROM a\nSTOPSIGNAL --x=1 SIGINT\n").stages[0].instructions[0]
    assert stop.args == ["SIGINT"] and stop.flags == {}


@pytest.mark.parametrize("text,nanos", [
    ("0", 0), ("1s", 10**9), ("1.5h", 5400 * 10**9), ("1m30s", 90 * 10**9), ("250ms", 25 * 10**7),
    ("10us", 10**4), ("3ns", 3), (".5s", 5 * 10**8), ("-2s", -2 * 10**9),
])
def test_parse_duration(text: str, nanos: int) -> None:
    assert parse_duration(text) == nanos


def test_expand_env_label_and_paths() -> None:
    df = parse(
        'FROM a\nENV PATH=/opt/env/bin:"${PATH}" $K=v\nLABEL "x y"=$V\nCOPY --chown=$U --from=$S $SRC /d/${D}\n'
        "WORKDIR ${HOME}/app\nUSER $U\nVOLUME $D\nSTOPSIGNAL $SIG\nEXPOSE $PORTS\n"
    )
    env = {"PATH": "/usr/bin", "K": "key", "V": "val", "U": "1000", "S": "build", "SRC": "out",
           "D": "dir", "HOME": "/root", "SIG": "SIGINT", "PORTS": "80 443"}
    got = [expand_instruction(i, env) for i in df.stages[0].instructions]
    assert got[0].key_values() == [("PATH", "/opt/env/bin:/usr/bin"), ("key", "v")]
    assert got[1].key_values() == [("x y", "val")]
    assert got[2].args == ["out", "/d/dir"] and got[2].flags == {"chown": ["1000"], "from": ["$S"]}
    assert [g.args for g in got[3:]] == [["/root/app"], ["1000"], ["dir"], ["SIGINT"], ["80", "443"]]


def test_expand_leaves_commands_alone() -> None:
    df = parse('FROM a\nRUN echo $X\nCMD ["$X"]\nENTRYPOINT $X\nHEALTHCHECK CMD $X\n')
    for instr in df.stages[0].instructions:
        assert expand_instruction(instr, {"X": "1"}).args == instr.args
        assert instruction_vars(instr) == set()


def test_expand_copy_heredoc_content() -> None:
    df = parse("FROM a\nCOPY <<EOF <<'RAW' /d/\nhi $NAME \"q\"\nEOF\n$NAME\nRAW\n")
    copy = expand_instruction(df.stages[0].instructions[0], {"NAME": "bob"})
    assert [h.content for h in copy.heredocs] == ['hi bob "q"\n', "$NAME\n"]
    assert copy.args == ["<<EOF", "<<'RAW'", "/d/"]


def test_expand_arg_defaults() -> None:
    arg = parse("FROM a\nARG A=${B:-x}/y C\n").stages[0].instructions[0]
    assert expand_instruction(arg, {}).arg_pairs() == [("A", "x/y"), ("C", None)]


def test_expand_error_names_line() -> None:
    env = parse("FROM a\nENV A=${B:?required}\n").stages[0].instructions[0]
    with pytest.raises(DockerfileError) as info:
        expand_instruction(env, {})
    assert str(info.value) == 'Dockerfile:2: failed to process "${B:?required}": B: required'


def test_escape_directive_applies_to_expansion() -> None:
    df = parse("# escape=`\nFROM a\nENV A=`$B C=\\x\n")
    env = expand_instruction(df.stages[0].instructions[0], {"B": "no"}, df.escape)
    assert env.key_values() == [("A", "$B"), ("C", "\\x")]


def test_instruction_vars() -> None:
    df = parse(
        "FROM a\nENV A=$X B=${Y:-$Z}\nCOPY --chown=$U $SRC /d\nRUN --network=none echo $NOT_COUNTED\n"
        "COPY <<EOF /f\n$IN_BODY\nEOF\nCOPY <<'EOF' /g\n$NOT_EXPANDED\nEOF\nWORKDIR \\$LITERAL\n"
    )
    got = [instruction_vars(i) for i in df.stages[0].instructions]
    assert got == [{"X", "Y", "Z"}, {"U", "SRC"}, set(), {"IN_BODY"}, set(), set()]


def test_global_scope_for_from_lines() -> None:
    df = parse("ARG REG=docker.io\nARG IMG=${REG}/lib/alpine\nARG TAG\nARG UNUSED=1\nFROM ${IMG}:${TAG:-latest}\n")
    scope = global_scope(df, {"TAG": "3.20"}, {"TARGETARCH": "amd64"})
    assert scope == {"TARGETARCH": "amd64", "REG": "docker.io", "IMG": "docker.io/lib/alpine",
                     "TAG": "3.20", "UNUSED": "1"}
    stage = df.stages[0]
    assert expand_instruction(stage.from_, scope).args == ["docker.io/lib/alpine:3.20"]
    assert global_scope(df, {"REG": "r:5000"}, {})["IMG"] == "r:5000/lib/alpine"


def test_global_arg_needs_redeclaring_inside_stage() -> None:
    df = parse("ARG V=1\nARG W=2\nFROM a\nARG V\nARG W=3\nARG NEW\nARG TARGETARCH\n")
    scope = global_scope(df, {}, {"TARGETARCH": "arm64"})
    stage_args = ArgScope(scope, {"NEW": "n"})
    env: dict[str, str] = {}
    declared = [stage_args.declare(i, env) for i in df.stages[0].instructions]
    assert declared == [{"V": "1"}, {"W": "3"}, {"NEW": "n"}, {"TARGETARCH": "arm64"}]
    assert stage_args.values == {"V": "1", "W": "3", "NEW": "n", "TARGETARCH": "arm64"}


def test_arg_without_value_is_unset() -> None:
    df = parse("FROM a\nARG V\n")
    assert ArgScope({}, {}).declare(df.stages[0].instructions[0], {}) == {"V": None}


def test_arg_default_uses_stage_env() -> None:
    df = parse("FROM a\nARG DIR=$HOME/x\n")
    declared = ArgScope({}, {}).declare(df.stages[0].instructions[0], {"HOME": "/root"})
    assert declared == {"DIR": "/root/x"}


def test_later_arg_sees_earlier_one_in_same_instruction() -> None:
    df = parse("FROM a\nARG A=1 B=${A}2\n")
    assert ArgScope({}, {}).declare(df.stages[0].instructions[0], {}) == {"A": "1", "B": "12"}


def test_unconsumed_build_args() -> None:
    df = parse("ARG G\nFROM a\nARG S\n")
    assert unconsumed_build_args(df, ["G", "S", "HTTP_PROXY", "EXTRA", "B"]) == ["B", "EXTRA"]


def test_build_arg_overrides_default() -> None:
    df = parse("FROM a\nARG V=${BAD:?never}\n")
    assert ArgScope({}, {"V": "cli"}).declare(df.stages[0].instructions[0], {}) == {"V": "cli"}


def test_stage_refs() -> None:
    df = parse(
        "ARG BASE=deps\nFROM alpine AS deps\nFROM golang:1.22 AS Build\nRUN --mount=from=deps,target=/d true\n"
        "FROM ${BASE} AS test\nCOPY --from=1 /out /\nCOPY --from=busybox:musl /bin/sh /sh\n"
        "FROM scratch\nCOPY --from=BUILD /app /app\nCOPY --from=test /x /x\n"
    )
    scope = global_scope(df, {}, {})
    assert stage_refs(df, 0, scope) == (StageRefs([], ["alpine"]))
    assert stage_refs(df, 1, scope) == StageRefs([0], ["golang:1.22"])
    assert stage_refs(df, 2, scope) == StageRefs([0, 1], ["busybox:musl"])
    assert stage_refs(df, 3, scope) == StageRefs([1, 2], [])


def test_from_a_later_stage_name_is_an_image() -> None:
    df = parse("FROM later\nFROM alpine AS later\nFROM 0\n")
    assert stage_refs(df, 0, {}) == StageRefs([], ["later"])
    assert stage_refs(df, 2, {}) == StageRefs([], ["0"])


def test_predefined_args_listed() -> None:
    from freight.builder.parser import PLATFORM_ARGS, PREDEFINED_ARGS, PROXY_ARGS

    assert {"HTTP_PROXY", "http_proxy", "no_proxy", "ALL_PROXY"} <= PROXY_ARGS
    assert {"TARGETPLATFORM", "BUILDVARIANT"} <= PLATFORM_ARGS
    assert PREDEFINED_ARGS == PROXY_ARGS | PLATFORM_ARGS


def test_seed_examples_parse() -> None:
    files = sorted(SEEDS.glob("*/Dockerfile"))
    assert files
    for path in files:
        df = parse(path.read_text(), filename=str(path))
        assert df.stages and df.stages[-1].base
        for instr in df.instructions():
            expand_instruction(instr, {"PATH": "/usr/bin"})


def test_seed_multistage_example() -> None:
    df = parse((SEEDS / "09-diet" / "Dockerfile").read_text())
    builder, final = df.stages
    assert (builder.name, builder.base, final.base) == ("builder", "continuumio/miniconda:latest", "ubuntu:noble")
    copy = final.instructions[0].copy_spec()
    assert (copy.from_, copy.sources, copy.dest) == ("builder", ["/opt/env"], "/opt/env")
    env = expand_instruction(final.instructions[2], {"PATH": "/usr/bin"})
    assert env.key_values() == [("PATH", "/opt/env/bin:/usr/bin")]
