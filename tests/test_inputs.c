/*
 * test_inputs.c - tagged values as inputs, end to end through the public
 * API: every type of the README's "Value types" table goes out as one
 * execution's result and comes back unchanged as the next one's inputs
 * (checked inside Python, then the JSON compared byte for byte), and a
 * table of malformed tags, each with the error it must give.
 */
#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pysandbox.h>

#include "tests/suite.h"

/* Imported by both executions of a round trip. */
#define IMPORTS                                                                                    \
    "import datetime, decimal, pathlib, dataclasses, math\n"                                       \
    "import numpy as np, pandas as pd\n"                                                           \
    "@dataclasses.dataclass\n"                                                                     \
    "class P:\n"                                                                                   \
    "    x: int\n"                                                                                 \
    "    y: list\n"

/* One round trip: `make` is the value sent out, `check` holds for what comes back as v. */
struct trip {
    const char *name;  /* what is tested */
    const char *make;  /* a Python expression */
    const char *check; /* a Python expression about v, the value decoded from inputs */
};

static const struct trip trips[] = {
    {"big int", "2**100", "type(v) is int and v == 2**100"},
    {"negative big int", "-(2**70) - 1", "type(v) is int and v == -(2**70) - 1"},
    {"nan", "float('nan')", "type(v) is float and math.isnan(v)"},
    {"inf", "[float('inf'), float('-inf')]", "v == [math.inf, -math.inf]"},
    {"bytes", "b'\\x00\\xffab'", "type(v) is bytes and v == b'\\x00\\xffab'"},
    {"bytearray", "bytearray(b'')", "type(v) is bytes and v == b''"},
    {"complex", "complex(1.5, -2)", "type(v) is complex and v == complex(1.5, -2)"},
    {"complex nan", "complex(float('nan'), 1)", "type(v) is complex and math.isnan(v.real)"},
    {"decimal", "decimal.Decimal('1.10')",
     "type(v) is decimal.Decimal and str(v) == '1.10' and v == decimal.Decimal('1.1')"},
    {"decimal nan", "decimal.Decimal('-Infinity')", "v.is_infinite() and v < 0"},
    {"datetime tz",
     "datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, "
     "datetime.timezone(datetime.timedelta(hours=5, minutes=30)))",
     "type(v) is datetime.datetime and v.utcoffset() == datetime.timedelta(hours=5, minutes=30)"
     " and v.microsecond == 678901 and v.hour == 3"},
    {"datetime naive", "datetime.datetime(1999, 12, 31, 23, 59)",
     "type(v) is datetime.datetime and v.tzinfo is None and v.minute == 59"},
    {"date", "datetime.date(2024, 2, 29)", "type(v) is datetime.date and v.day == 29"},
    {"time tz", "datetime.time(12, 30, 1, 5, datetime.timezone.utc)",
     "type(v) is datetime.time and v.tzinfo == datetime.timezone.utc and v.microsecond == 5"},
    {"timedelta", "datetime.timedelta(days=-1, seconds=5, microseconds=250000)",
     "type(v) is datetime.timedelta and v == datetime.timedelta(days=-1, seconds=5.25)"},
    {"path", "pathlib.PurePosixPath('/x/y z')",
     "isinstance(v, pathlib.PurePosixPath) and str(v) == '/x/y z'"},
    {"dataclass", "P(1, [2, P(3, [])])",
     "dataclasses.is_dataclass(v) and type(v).__qualname__ == 'P' and v.x == 1 and "
     "v.y[1].x == 3 and type(v.y[1]) is type(v) and dataclasses.asdict(v)['y'][1]['y'] == []"},
    {"dict with $type", "{'$type': 'int', 'value': '5', 'd': {'$type': 'x'}}",
     "v == {'$type': 'int', 'value': '5', 'd': {'$type': 'x'}}"},
    {"$type not a string", "{'$type': 7}", "v == {'$type': 7}"},
    {"tuple and set", "[(1, 'a'), {2}]", "v == [[1, 'a'], [2]]"},
    {"ndarray int", "np.arange(6, dtype=np.int32).reshape(2, 3)",
     "v.dtype == np.int32 and v.shape == (2, 3) and v[1, 2] == 5"},
    {"ndarray float", "np.array([1.5, np.nan, -np.inf])",
     "v.dtype == np.float64 and np.isnan(v[1]) and v[2] == -np.inf"},
    {"ndarray uint64", "np.array([2**64 - 1], dtype=np.uint64)",
     "v.dtype == np.uint64 and int(v[0]) == 2**64 - 1"},
    {"ndarray bool 0-d", "np.array(True)", "v.dtype == np.bool_ and v.shape == () and v"},
    {"ndarray empty", "np.zeros((0, 3))", "v.shape == (0, 3) and v.dtype == np.float64"},
    {"ndarray complex", "np.array([[1+2j], [3-4j]], dtype=np.complex64)",
     "v.dtype == np.complex64 and v.shape == (2, 1) and v[1, 0] == 3-4j"},
    {"ndarray str", "np.array(['a', 'bcd'])", "v.dtype == np.dtype('<U3') and v[1] == 'bcd'"},
    {"ndarray bytes", "np.array([b'a', b'\\x00b'])",
     "v.dtype == np.dtype('S2') and v[1] == b'\\x00b'"},
    {"ndarray object", "np.array([[1, 'x'], [None, [2]]], dtype=object)",
     "v.dtype == object and v.shape == (2, 2) and v[1, 1] == [2] and v[1, 0] is None"},
    {"datetime64 NaT", "np.array(['2024-01-02T03:04:05', 'NaT'], dtype='datetime64[s]')",
     "v.dtype == np.dtype('M8[s]') and np.isnat(v[1]) and str(v[0]) == '2024-01-02T03:04:05'"},
    {"timedelta64 NaT", "np.array([1500, -3, 'NaT'], dtype='timedelta64[ms]')",
     "v.dtype == np.dtype('m8[ms]') and v[0] == np.timedelta64(1500, 'ms') and np.isnat(v[2])"},
    {"DataFrame",
     "pd.DataFrame({'a': [1, 2], 'c': pd.Categorical(['x', 'y']), 'f': [0.5, np.nan], "
     "'t': pd.to_datetime(['2024-01-01', None]), 's': ['p', None]}, index=['r1', 'r2'])",
     "isinstance(v, pd.DataFrame) and list(v.columns) == ['a', 'c', 'f', 't', 's'] and "
     "list(v.index) == ['r1', 'r2'] and str(v.dtypes['c']) == 'category' and "
     "str(v.dtypes['t']) == 'datetime64[ns]' and pd.isna(v.loc['r2', 't']) and v['a'].sum() == 3"},
    {"DataFrame empty", "pd.DataFrame({'a': pd.Series([], dtype='int64')})",
     "isinstance(v, pd.DataFrame) and v.shape == (0, 1) and str(v.dtypes['a']) == 'int64'"},
    {"Series", "pd.Series([1.5, 2.5], index=[10, 20], name='s')",
     "isinstance(v, pd.Series) and v.name == 's' and v[20] == 2.5 and v.dtype == np.float64"},
    {"Series tz", "pd.Series(pd.to_datetime(['2024-01-01T00:00:00Z']), name=None)",
     "str(v.dtype) == 'datetime64[ns, UTC]' and v.name is None"},
    {"Index", "pd.Index(['a', 'b'], name='k')",
     "isinstance(v, pd.Index) and v.name == 'k' and list(v) == ['a', 'b']"},
    {"Categorical",
     "pd.Categorical(['lo', 'hi', None, 'lo'], categories=['lo', 'hi'], "
     "ordered=True)",
     "isinstance(v, pd.Categorical) and v.ordered and list(v.codes) == [0, 1, -1, 0]"},
    {"Timestamp and Timedelta", "[pd.Timestamp('2024-01-01', tz='UTC'), pd.Timedelta('90s')]",
     "v == [datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), "
     "datetime.timedelta(seconds=90)]"},
    {"period and interval", "[pd.Period('2024-03', freq='M'), pd.Interval(0, 1.5, 'left')]",
     "v == [pd.Period('2024-03', freq='M'), pd.Interval(0, 1.5, 'left')]"},
    {"nested", "{'rows': [{'when': datetime.date(2024, 1, 1), 'raw': b'x'}], 'n': 2**64}",
     "v['rows'][0]['when'] == datetime.date(2024, 1, 1) and v['rows'][0]['raw'] == b'x'"},
};

static psb_sandbox *new_sandbox(psb_mode mode, const char *policy) {
    psb_error err = {0};
    psb_config *c = psb_config_new(&err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(psb_config_set_mode(c, mode, &err), PSB_OK);
    if (policy)
        ck_assert_int_eq(psb_config_set_policy(c, policy, &err), PSB_OK);
    psb_sandbox *sb = NULL;
    ck_assert_msg(psb_sandbox_new(c, &sb, &err) == PSB_OK, "sandbox: %s", err.message);
    psb_config_free(c);
    return sb;
}

/* Runs code with inputs (NULL: none); the outcome, which the caller frees. */
static psb_outcome *run(psb_sandbox *sb, const char *code, const char *inputs) {
    psb_error err = {0};
    psb_exec_options *o = psb_exec_options_new(&err);
    ck_assert_ptr_nonnull(o);
    if (inputs)
        ck_assert_msg(psb_exec_options_set_inputs_json(o, inputs, strlen(inputs), &err) == PSB_OK,
                      "inputs %.200s: %s", inputs, err.message);
    psb_outcome *out = NULL;
    ck_assert_msg(psb_exec(sb, code, strlen(code), o, &out, &err) == PSB_OK, "exec: %s",
                  err.message);
    psb_exec_options_free(o);
    return out;
}

static const char *str(const char *s) {
    return s ? s : "(null)";
}

/* Failures collected over a table, so that one run names every broken row. */
struct failures {
    char text[16384]; /* one line per failure, cut at the size */
    size_t len;       /* bytes used */
    int count;        /* rows that failed */
};

static void failed(struct failures *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failed(struct failures *f, const char *fmt, ...) {
    va_list ap;
    f->count++;
    if (f->len + 2 >= sizeof f->text)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(f->text + f->len, sizeof f->text - f->len - 1, fmt, ap);
    va_end(ap);
    f->len += n < 0 ? 0 : (size_t)n;
    f->len = f->len < sizeof f->text - 2 ? f->len : sizeof f->text - 2;
    f->text[f->len++] = '\n';
    f->text[f->len] = '\0';
}

/* The result JSON of a run (a copy the caller frees), or NULL after a failure. */
static char *result_json(psb_sandbox *sb, struct failures *f, const char *what, const char *code,
                         const char *inputs) {
    psb_outcome *out = run(sb, code, inputs);
    char *r = NULL;
    if (psb_outcome_ok(out))
        r = strdup(psb_outcome_result_json(out));
    else
        failed(f, "%s: %s: %.300s\n%.600s\ninputs: %.300s", what,
               psb_error_kind_name(psb_outcome_error_kind(out)),
               str(psb_outcome_error_message(out)), str(psb_outcome_error_traceback(out)),
               str(inputs));
    psb_outcome_free(out);
    return r;
}

/* Sends t out as a result, feeds that result back unchanged as inputs, compares. */
static void round_trip(psb_sandbox *sb, const struct trip *t, struct failures *f) {
    char code[4096];
    snprintf(code, sizeof code, IMPORTS "result = {'v': %s}\n", t->make);
    char *first = result_json(sb, f, t->name, code, NULL);
    snprintf(code, sizeof code,
             IMPORTS "v = inputs['v']\n"
                     "assert %s, repr(v)\n"
                     "result = inputs\n",
             t->check);
    char *second = first ? result_json(sb, f, t->name, code, first) : NULL;
    if (second && strcmp(first, second) != 0)
        failed(f, "%s: sent %s, got back %s", t->name, first, second);
    free(first);
    free(second);
}

START_TEST(every_type_round_trips) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    static struct failures f;
    for (size_t i = 0; i < sizeof trips / sizeof trips[0]; i++)
        round_trip(sb, &trips[i], &f);
    ck_assert_msg(f.count == 0, "%d of %zu round trips failed:\n%s", f.count,
                  sizeof trips / sizeof trips[0], f.text);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(tags_decode_cold) {
    /* Cold: nothing preloaded, so the decoder imports numpy and pandas itself. */
    psb_sandbox *sb = new_sandbox(PSB_MODE_COLD, NULL);
    static struct failures f;
    for (size_t i = 0; i < sizeof trips / sizeof trips[0]; i++)
        if (strcmp(trips[i].name, "DataFrame") == 0 || strcmp(trips[i].name, "datetime tz") == 0 ||
            strcmp(trips[i].name, "datetime64 NaT") == 0)
            round_trip(sb, &trips[i], &f);
    ck_assert_msg(f.count == 0, "%s", f.text);
    psb_sandbox_free(sb);
}
END_TEST

/* A malformed input and what it must give. */
struct bad {
    const char *inputs;  /* the inputs JSON */
    const char *type;    /* the Python exception type */
    const char *message; /* a part of its message */
};

static const struct bad bads[] = {
    {"{\"a\": {\"$type\": \"nope\"}}", "ValueError",
     "inputs[\"a\"]: {\"$type\": \"nope\"}: is not a known type"},
    {"{\"a\": [0, {\"$type\": \"int\"}]}", "ValueError",
     "inputs[\"a\"][1]: {\"$type\": \"int\"}: lacks the key \"value\""},
    {"{\"a\": {\"$type\": \"int\", \"value\": \"1\", \"x\": 1}}", "ValueError",
     "has the unknown key \"x\""},
    {"{\"a\": {\"$type\": \"int\", \"value\": 1}}", "ValueError",
     "\"value\" must be a string, not a number"},
    {"{\"a\": {\"$type\": \"int\", \"value\": \"12a\"}}", "ValueError", "decimal digits"},
    {"{\"a\": {\"$type\": \"int\", \"value\": \"-\"}}", "ValueError", "decimal digits"},
    {"{\"a\": {\"$type\": \"float\", \"value\": \"NaN\"}}", "ValueError",
     "must be \"nan\", \"inf\" or \"-inf\""},
    {"{\"a\": {\"$type\": \"bytes\", \"base64\": \"@@\"}}", "ValueError", "not valid base64"},
    {"{\"a\": {\"$type\": \"complex\", \"real\": \"1\", \"imag\": 0}}", "ValueError",
     "\"real\" must be a number, not a string"},
    {"{\"a\": {\"$type\": \"complex\", \"real\": true, \"imag\": 0}}", "ValueError",
     "\"real\" must be a number, not a boolean"},
    {"{\"a\": {\"$type\": \"decimal\", \"value\": \"abc\"}}", "ValueError", "not a decimal number"},
    {"{\"a\": {\"$type\": \"datetime\", \"value\": \"yesterday\"}}", "ValueError",
     "not an ISO 8601 datetime"},
    {"{\"a\": {\"$type\": \"time\", \"value\": \"25:00\"}}", "ValueError", "ISO 8601 time"},
    {"{\"a\": {\"$type\": \"timedelta\", \"seconds\": 1e300}}", "ValueError", "out of range"},
    {"{\"a\": {\"$type\": \"path\", \"value\": null}}", "ValueError", "must be a string, not null"},
    {"{\"a\": {\"$type\": \"dataclass\", \"class\": \"P\", \"fields\": []}}", "ValueError",
     "\"fields\" must be an object"},
    {"{\"a\": {\"$type\": \"dataclass\", \"class\": \"P\", \"fields\": {\"no way\": 1}}}",
     "ValueError", "not a usable attribute name"},
    {"{\"a\": {\"$type\": \"dict\", \"value\": {}, \"x\": 1}}", "ValueError",
     "inputs[\"a\"]: {\"$type\": \"dict\"} must have exactly one other key"},
    {"{\"a\": {\"$type\": \"dict\", \"value\": []}}", "ValueError", "\"value\", an object"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"int32\", \"shape\": [2, 3], "
     "\"data\": [[0, 1], [2, 3]]}}",
     "ValueError", "\"data\" does not match \"shape\" [2, 3]"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"int32\", \"shape\": [2], "
     "\"data\": [[0], [1]]}}",
     "ValueError", "\"data\" is nested deeper than \"shape\" [2]"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"float64\", \"shape\": [100000, 100000, "
     "100000], \"data\": []}}",
     "ValueError", "needs more than 1073741824 bytes"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"U100000000\", \"shape\": [3], "
     "\"data\": [\"a\", \"b\", \"c\"]}}",
     "ValueError", "needs more than"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"int8\", \"shape\": [-1], \"data\": []}}",
     "ValueError", "non-negative integers"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"int8\", \"shape\": [1, 1, 1, 1, 1, 1, 1, 1, "
     "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], \"data\": 1}}",
     "ValueError", "more than 32 dimensions"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"float99\", \"shape\": [], \"data\": 1}}",
     "ValueError", "is not a numpy dtype"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"V8\", \"shape\": [], \"data\": 1}}",
     "ValueError", "cannot be rebuilt from JSON"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"timedelta64[s]\", \"shape\": [1], "
     "\"data\": [\"x\"]}}",
     "ValueError", "must be seconds, not a string"},
    {"{\"a\": {\"$type\": \"DataFrame\", \"columns\": [\"a\"], \"index\": [0], "
     "\"data\": [[1, 2]], \"dtypes\": {\"a\": \"int64\"}}}",
     "ValueError", "\"data\"[0] must be an array of 1 values"},
    {"{\"a\": {\"$type\": \"DataFrame\", \"columns\": [\"a\"], \"index\": [0, 1], "
     "\"data\": [[1]], \"dtypes\": {\"a\": \"int64\"}}}",
     "ValueError", "\"data\" has 1 entries and \"index\" 2"},
    {"{\"a\": {\"$type\": \"DataFrame\", \"columns\": [\"a\"], \"index\": [0], "
     "\"data\": [[1]], \"dtypes\": {}}}",
     "ValueError", "\"dtypes\" lacks the column \"a\""},
    {"{\"a\": {\"$type\": \"DataFrame\", \"columns\": [\"a\"], \"index\": [0], "
     "\"data\": [[\"x\"]], \"dtypes\": {\"a\": \"int64\"}}}",
     "ValueError", "{\"$type\": \"DataFrame\"}: ValueError"},
    {"{\"a\": {\"$type\": \"Series\", \"name\": null, \"dtype\": \"int64\", \"index\": [0], "
     "\"data\": []}}",
     "ValueError", "\"data\" has 0 entries and \"index\" 1"},
    {"{\"a\": {\"$type\": \"Series\", \"name\": null, \"dtype\": \"S1000000000\", "
     "\"index\": [0, 1], \"data\": [\"a\", \"b\"]}}",
     "ValueError", "2 values of dtype S1000000000 need more than 1073741824 bytes"},
    {"{\"a\": {\"$type\": \"DataFrame\", \"columns\": [1], \"index\": [0], "
     "\"data\": [[\"x\"]], \"dtypes\": {\"1\": \"U999999999\"}}}",
     "ValueError", "1 values of dtype U999999999 need more than"},
    {"{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"U999999999\", \"shape\": [0], "
     "\"data\": []}}",
     "ValueError", "needs more than"},
    {"{\"a\": {\"$type\": \"Index\", \"name\": [1], \"dtype\": \"int64\", \"data\": []}}",
     "ValueError", "{\"$type\": \"Index\"}: TypeError"},
    {"{\"a\": {\"$type\": \"Categorical\", \"categories\": [\"x\"], \"codes\": [1], "
     "\"ordered\": false}}",
     "ValueError", "\"codes\" must be integers from -1 to 0"},
    {"{\"a\": {\"$type\": \"Categorical\", \"categories\": [], \"codes\": [], \"ordered\": 0}}",
     "ValueError", "\"ordered\" must be a boolean"},
    {"{\"a\": {\"$type\": \"interval\", \"left\": 0, \"right\": 1, \"closed\": \"open\"}}",
     "ValueError", "\"closed\" must be one of"},
    {"{\"a\": {\"$type\": \"period\", \"value\": \"2024-01\", \"freq\": \"bogus\"}}", "ValueError",
     "{\"$type\": \"period\"}: ValueError"},
};

START_TEST(malformed_tags_are_clear_errors) {
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    static struct failures f;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad *b = &bads[i];
        /* The code never runs: decoding fails first. */
        psb_outcome *out = run(sb, "print('ran')\nresult = 1", b->inputs);
        const char *type = psb_outcome_error_type(out), *message = psb_outcome_error_message(out);
        size_t len = 0;
        psb_outcome_stdout(out, &len, NULL);
        if (psb_outcome_error_kind(out) != PSB_KIND_EXCEPTION || !type ||
            strcmp(type, b->type) != 0 || !message || !strstr(message, b->message) || len)
            failed(&f, "inputs %.300s: expected %s containing '%s', got %s %s: %.300s", b->inputs,
                   b->type, b->message, psb_error_kind_name(psb_outcome_error_kind(out)), str(type),
                   str(message));
        psb_outcome_free(out);
    }
    ck_assert_msg(f.count == 0, "%d of %zu malformed inputs failed:\n%s", f.count,
                  sizeof bads / sizeof bads[0], f.text);
    psb_sandbox_free(sb);
}
END_TEST

/* n arrays nested in each other, as inputs {"a": [[...]]}. */
static char *nested(int n) {
    char *s = malloc((size_t)n * 2 + 16);
    ck_assert_ptr_nonnull(s);
    size_t len = (size_t)sprintf(s, "{\"a\": ");
    for (int i = 0; i < n; i++)
        s[len++] = '[';
    for (int i = 0; i < n; i++)
        s[len++] = ']';
    strcpy(s + len, "}");
    return s;
}

/* What psb_exec_options_set_inputs_json says about inputs. */
static psb_status set_inputs(const char *inputs, psb_error *err) {
    memset(err, 0, sizeof *err); /* the first error wins: start afresh */
    psb_exec_options *o = psb_exec_options_new(err);
    ck_assert_ptr_nonnull(o);
    psb_status st = psb_exec_options_set_inputs_json(o, inputs, strlen(inputs), err);
    psb_exec_options_free(o);
    return st;
}

START_TEST(depth_and_size_are_capped) {
    /* 200 containers deep (the result's own cap) is fine; 201 is refused before anything runs. */
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, NULL);
    char *deep = nested(199), *too_deep = nested(200);
    psb_outcome *out = run(sb, "result = len(str(inputs))", deep);
    ck_assert_msg(psb_outcome_ok(out), "200 levels: %s", str(psb_outcome_error_message(out)));
    psb_outcome_free(out);
    psb_error err = {0};
    ck_assert_int_eq(set_inputs(too_deep, &err), PSB_EINVAL);
    ck_assert_str_eq(err.message, "inputs are nested deeper than 200 levels");
    /* 4 Mi values in all are fine; one more is refused. */
    size_t n = (size_t)1 << 22, len = 0;
    char *big = malloc(n * 2 + 16);
    ck_assert_ptr_nonnull(big);
    len = (size_t)sprintf(big, "{\"a\": [");
    for (size_t i = 0; i < n - 2; i++) { /* the object and the array count too */
        big[len++] = '0';
        big[len++] = i + 3 < n ? ',' : ']';
    }
    strcpy(big + len, "}");
    ck_assert_int_eq(set_inputs(big, &err), PSB_OK);
    strcpy(big + len - 1, ",0]}");
    ck_assert_int_eq(set_inputs(big, &err), PSB_EINVAL);
    ck_assert_str_eq(err.message, "inputs hold more than 4194304 values");
    free(big);
    free(deep);
    free(too_deep);
    psb_sandbox_free(sb);
}
END_TEST

START_TEST(policy_refuses_the_module_of_a_tag) {
    /* strict denies numpy and pathlib: their tags are refused, stdlib ones it allows work. */
    psb_sandbox *sb = new_sandbox(PSB_MODE_WARM, "strict");
    psb_outcome *out = run(sb, "result = 1",
                           "{\"a\": {\"$type\": \"ndarray\", \"dtype\": \"int8\", "
                           "\"shape\": [1], \"data\": [1]}}");
    ck_assert_int_eq(psb_outcome_error_kind(out), PSB_KIND_EXCEPTION);
    ck_assert_str_eq(str(psb_outcome_error_type(out)), "ImportError");
    ck_assert_str_eq(str(psb_outcome_error_message(out)),
                     "inputs[\"a\"]: {\"$type\": \"ndarray\"} needs numpy, which the sandbox "
                     "policy does not allow");
    psb_outcome_free(out);
    out = run(sb, "result = 1", "{\"p\": {\"$type\": \"path\", \"value\": \"/x\"}}");
    ck_assert_ptr_nonnull(strstr(str(psb_outcome_error_message(out)), "needs pathlib"));
    psb_outcome_free(out);
    out = run(sb, "result = [inputs['d'].year, str(inputs['n'])]",
              "{\"d\": {\"$type\": \"date\", \"value\": \"2024-05-06\"}, "
              "\"n\": {\"$type\": \"decimal\", \"value\": \"2.50\"}}");
    ck_assert_msg(psb_outcome_ok(out), "%s", str(psb_outcome_error_message(out)));
    ck_assert_str_eq(psb_outcome_result_json(out), "[2024,\"2.50\"]");
    psb_outcome_free(out);
    /* The decoder's own imports do not open the import filter to the code. */
    out = run(sb, "import numpy", "{\"b\": {\"$type\": \"bytes\", \"base64\": \"AA==\"}}");
    ck_assert_int_eq(psb_outcome_error_kind(out), PSB_KIND_IMPORT_DENIED);
    psb_outcome_free(out);
    psb_sandbox_free(sb);
}
END_TEST

int main(void) {
    Suite *s = suite_create("inputs");
    TCase *tc = psb_tcase_create("round_trip");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_type_round_trips);
    tcase_add_test(tc, tags_decode_cold);
    suite_add_tcase(s, tc);
    tc = psb_tcase_create("malformed");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, malformed_tags_are_clear_errors);
    tcase_add_test(tc, depth_and_size_are_capped);
    tcase_add_test(tc, policy_refuses_the_module_of_a_tag);
    suite_add_tcase(s, tc);
    return psb_test_run(s);
}
