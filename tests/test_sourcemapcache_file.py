"""The source-map cache file answers exactly as symbolic's SourceMapCache.lookup, and refuses damage."""

import json
import random

import pytest
from symbolic.sourcemap import SourceMapView
from symbolic.sourcemapcache import SourceMapCache

from webapp.services import sourcemapcache_bytes, sourcemapcache_file

from .bundles import _encode, build, inject
from .symbol_blobs import minified_source, source_map

SHOP_TS = """
export class Cart {
  private items: { sku: string; price: number }[] = [];
  add(sku: string, price: number) {
    if (price < 0) throw new RangeError("negative price for " + sku);
    this.items.push({ sku, price });
    return this;
  }
  get total(): number {
    return this.items.reduce((sum, item) => sum + item.price, 0);
  }
  static empty() { return new Cart(); }
}

function applyDiscount(total: number, code: string): number {
  const rules: Record<string, (n: number) => number> = {
    HALF: (n) => n / 2,
    TENOFF: function (n) { return Math.max(0, n - 10); },
  };
  const rule = rules[code];
  if (!rule) { throw new Error(`unknown code ${code}`); }
  return rule(total);
}

async function checkout(cart: Cart, code?: string) {
  await Promise.resolve();
  const total = code ? applyDiscount(cart.total, code) : cart.total;
  return [1, 2, 3].map(function (step) { return step * total; }).filter((x) => x > 0);
}

function* ids() { let id = 0; while (true) yield id++; }
const generator = ids();
(window as any).shop = { Cart, checkout, next: () => generator.next().value };
checkout(Cart.empty().add("tea", 4).add("cup", 9), "HALF").then((r) => console.log("ok", r));
"""


def answer(token) -> tuple | None:
    if token is None:
        return None
    return (
        token.line,
        token.col,
        token.src,
        token.name,
        token.function_name,
        token.context_line,
        list(token.pre_context),
        list(token.post_context),
    )


def cache_file(tmp_path, source: bytes, map_bytes: bytes):
    symbolic = SourceMapCache.from_bytes(source, map_bytes)
    serialized = sourcemapcache_bytes.serialized(symbolic)
    assert serialized is not None, "symbolic's bytes were not found"
    path = tmp_path / "map.smcache"
    sourcemapcache_file.write(path, serialized)
    return symbolic, sourcemapcache_file.CacheFile(path)


def positions_around_tokens(source: bytes, map_bytes: bytes) -> set[tuple[int, int]]:
    """Every token, the columns next to it and halfway to the next, past each line's end, and past
    the last line (1-based)."""
    lines = source.decode().split("\n")
    view = SourceMapView.from_json_bytes(map_bytes)
    tokens = sorted({(token.dst_line, token.dst_col) for token in view})
    positions = {(1, 1), (len(lines) + 1, 1), (len(lines) + 5, 3)}
    for (line, col), following in zip(tokens, tokens[1:] + [None], strict=True):
        positions.update({(line + 1, col + 1), (line + 1, col + 2), (line + 1, max(col, 1))})
        if following is not None and following[0] == line:
            positions.add((line + 1, (col + following[1]) // 2 + 1))
    for number, text in enumerate(lines, start=1):
        positions.update({(number, 1), (number, len(text)), (number, len(text) + 1), (number, len(text) + 9)})
    positions.update({(1, 2**31 - 1), (2**31 - 1, 1)})
    return positions


def assert_same_answers(symbolic, cached, positions, context_lines=(0, 5)) -> int:
    for lines in context_lines:
        mismatches = [
            (position, answer(symbolic.lookup(*position, lines)), answer(cached.lookup(*position, lines)))
            for position in sorted(positions)
            if answer(symbolic.lookup(*position, lines)) != answer(cached.lookup(*position, lines))
        ]
        assert not mismatches, mismatches[:3]
    return len(positions)


@pytest.fixture(scope="module")
def esbuild_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    return inject(*build(folder, "shop", SHOP_TS), "c0ffee00-shop")


def test_an_esbuild_bundle_answers_as_symbolic_at_every_token_and_between(tmp_path, esbuild_bundle):
    source, map_bytes = esbuild_bundle.source, esbuild_bundle.source_map
    assert json.loads(map_bytes)["sourcesContent"], "esbuild's map should carry the sources"
    symbolic, cached = cache_file(tmp_path, source, map_bytes)
    positions = positions_around_tokens(source, map_bytes)
    assert assert_same_answers(symbolic, cached, positions) > 500
    # The scope analysis named the functions: not only <unknown> came back.
    names = {
        cached.lookup(*position, 0).function_name for position in positions if cached.lookup(*position, 0)
    }
    assert {"applyDiscount", "checkout", "<anonymous>"} <= names


def test_a_map_of_names_and_a_hermes_map_answer_as_symbolic(tmp_path):
    cases = [
        (minified_source("c"), source_map()),
        (b"", source_map(x_facebook_sources=[[{"names": ["<global>", "boom"], "mappings": "AAA,CCC"}]])),
        (minified_source("c"), source_map(sourcesContent=...)),
    ]
    for number, (source, map_bytes) in enumerate(cases):
        folder = tmp_path / str(number)
        folder.mkdir()
        symbolic, cached = cache_file(folder, source, map_bytes)
        assert_same_answers(symbolic, cached, {(line, col) for line in range(1, 5) for col in range(1, 90)})


_JS = (
    "function outer(a){var b=function(c){return c*2};return b(a)+inner(a)}\n"
    "function inner(x){return[1,2,3].map(y=>y+x).reduce((p,q)=>p+q,0)}\n"
    "class K{method(z){return z}static s(){return 1}}\n"
    "var o={prop:function(){return 2},arrow:()=>3};\n"
    "outer(1);new K().method(2);\n"
)


def random_map(rng: random.Random, order: str) -> bytes:
    """Segments at random columns, in order, shuffled within lines, or with repeated columns; some
    without a source; sources with and without content (CRLF, non-ASCII, empty, missing)."""
    sources = [f"src/f{number}.ts" for number in range(rng.randint(1, 3))]
    contents = [
        rng.choice(
            [
                None,
                "",
                "línea uno\r\nzwei ✓\r\n\r\ndrei",
                "\n".join(f"const l{j} = {j}; // ü{j}" for j in range(rng.randint(1, 40)))
                + "\n" * rng.randint(0, 1),
            ]
        )
        for _ in sources
    ]
    names = ["outer", "inner", "b", "method", "", "ñame"]
    state = [0, 0, 0, 0]  # source, line, column, name: VLQ values are relative across the map
    lines = []
    for text in _JS.split("\n"):
        columns = sorted(rng.sample(range(len(text) + 3), min(rng.randint(0, 8), len(text) + 3)))
        if order == "repeated" and columns:
            columns += rng.sample(columns, min(2, len(columns)))
            columns.sort()
        elif order == "shuffled":
            rng.shuffle(columns)
        segments, previous = [], 0
        for column in columns:
            values, previous = [column - previous], column
            if rng.random() < 0.9:
                target = [rng.randrange(len(sources)), rng.randint(0, 45), rng.randint(0, 30)]
                values += [new - old for new, old in zip(target, state[:3], strict=True)]
                state[:3] = target
                if rng.random() < 0.4:
                    name = rng.randrange(len(names))
                    values.append(name - state[3])
                    state[3] = name
            segments.append(_encode(values))
        lines.append(",".join(segments))
    document = {"version": 3, "sources": sources, "names": names, "mappings": ";".join(lines)}
    if rng.random() < 0.9:
        document["sourcesContent"] = contents[: len(contents) - rng.randint(0, 1)]
    return json.dumps(document).encode()


@pytest.mark.parametrize("order", ["ordered", "shuffled", "repeated"])
def test_random_maps_answer_as_symbolic_everywhere(tmp_path, order):
    rng = random.Random(f"smcache-{order}")
    everywhere = {(line, col) for line in range(1, 8) for col in range(1, 80)}
    for number in range(40):
        folder = tmp_path / str(number)
        folder.mkdir()
        symbolic, cached = cache_file(folder, _JS.encode(), random_map(rng, order))
        assert_same_answers(symbolic, cached, everywhere, context_lines=(rng.choice([0, 1, 5]),))


@pytest.fixture
def written(tmp_path):
    symbolic, cached = cache_file(tmp_path, minified_source("c"), source_map())
    cached.close()
    return tmp_path / "map.smcache"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) - 1], "bytes announced"),
        (lambda data: data[:20], "shorter than its header"),
        (lambda data: data + b"\0" * 8, "bytes announced"),
        (lambda data: data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], "checksum"),
        (lambda data: b"XMCFILE\0" + data[8:], "format"),
        (lambda data: data[:8] + b"\x02" + data[9:], "format"),
        (lambda data: b"", "shorter than its header"),
    ],
)
def test_a_damaged_file_is_refused(written, damage, message):
    written.write_bytes(damage(written.read_bytes()))
    with pytest.raises(sourcemapcache_file.CorruptCacheFile, match=message):
        sourcemapcache_file.CacheFile(written)


def test_words_that_do_not_chain_are_not_taken_for_symbolic_bytes():
    # The layout check happens before any pointer is read: made-up addresses never get dereferenced.
    header = 0x7F0000001000
    words = [header, header + 32, 4, header + 64, 4, header + 144, 1, header + 160, 4, header + 176, 49]
    broken = list(words)
    broken[3] += 8
    assert sourcemapcache_bytes._view(broken) is None
    assert sourcemapcache_bytes._view([0] * 11) is None
