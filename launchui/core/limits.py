"""Every cap on what one request may make the server do, in one place (README: Security).

No request, however small, may buy unbounded work: sizes, nesting depth, expansion and fan-out are checked
before anything is built from the input. The wandb 0.31 client's own requests stay far below each cap
(tests/wire/test_limits.py measures its captured documents against a quarter of every cap).
"""

# --- JSON and YAML typed or sent by users: queue configs, template variables, run configs, overrides ---
USER_DATA_MAX_BYTES = 256 * 1024  # the text, before parsing; and the value, measured as compact JSON
USER_DATA_MAX_DEPTH = 64  # nested mappings and lists; real configs are < 10 deep
USER_DATA_MAX_NODES = 50_000  # mappings, lists and scalars in one value

# --- /graphql ---
GRAPHQL_MAX_BODY_BYTES = 10 * 1024 * 1024  # refused before the body is read; as the file stream (wandb verify
# checks that a 10 MB variable gets through, and the document and each value inside have their own caps below)
GRAPHQL_MAX_BODY_DEPTH = USER_DATA_MAX_DEPTH + 8  # the JSON body: variables hold user data a few levels down
GRAPHQL_MAX_DOCUMENT_CHARS = 32 * 1024  # the client's largest document is ~1.5 KB
GRAPHQL_MAX_NESTING = 64  # brackets in the document text ({ [ (), checked before the recursive parser
GRAPHQL_MAX_TOKENS = 8_000  # graphql-core stops parsing past this
GRAPHQL_MAX_DEFINITIONS = 64  # operations and fragments in one document
GRAPHQL_MAX_ROOT_FIELDS = 16  # root fields of the operation, fragments expanded (10,000 mutations: refused)
GRAPHQL_MAX_ALIASES = 64  # aliased fields after fragment expansion
GRAPHQL_MAX_DEPTH = 40  # fields inside fields (the client: 8, edges and nodes included)
GRAPHQL_MAX_FIELDS = 500  # fields after fragment expansion, each fragment counted once per spread (client: 63)
GRAPHQL_MAX_LIST_PAGE = 1_000  # `first:` on a list field is clamped to this; the client follows cursors
GRAPHQL_MAX_RESULT_VALUES = 100_000  # values the answer may hold (lists times their fields)

# --- caches ---
PARSED_DOCUMENT_CACHE_ENTRIES = 128  # parsed /graphql documents kept; only documents under the size below
PARSED_DOCUMENT_CACHE_MAX_CHARS = 8 * 1024

# --- the run file stream (POST /files/<entity>/<project>/<run>/file_stream) and run reads ---
RUN_STREAM_MAX_LINES = 10_000  # lines of all files in one file-stream request (the client sends ≤ ~1,000)
RUN_STREAM_MAX_LINE_BYTES = 256 * 1024  # one history or events row; a bigger row is refused, not cut
RUN_CONSOLE_LINE_MAX_CHARS = 16 * 1024  # one console line; longer lines are cut (the W&B UI cuts them too)
RUN_HISTORY_MAX_SAMPLES = 10_000  # `samples` of history(), events() and sampledHistory() is clamped to this
RUN_HISTORY_MAX_KEYS = 10_000  # history keys tracked per run (historyKeys); rows with more are still stored
RUN_HISTORY_BUCKETS_MAX = 2_048  # chart-layer buckets a run keeps (RunHistoryBucket); more double their width
RUN_HISTORY_MAX_SPECS = 8  # sampledHistory specs in one request
RUN_FILES_MAX_PER_REQUEST = 1_000  # file names in one createRunFiles (the client sends a handful)

# --- artifacts ---
ARTIFACT_ALIASES_MAX_PER_EDIT = 100  # aliases in one addAliases / deleteAliases (the client sends those changed)
COLLECTION_DESCRIPTION_MAX_CHARS = 10_000  # a job's (an artifact's) description, as the Job page edits it

# --- pages ---
OVERVIEW_POSITIONS_MAX = 1_000  # the queue Overview numbers the first this many waiting items in pop order
