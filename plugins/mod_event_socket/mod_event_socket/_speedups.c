/*
 * mod_event_socket._speedups: optional C versions of two pure functions on the ESL hot path.
 *
 * Built when a C compiler is there (setup.py marks the extension optional); without it, or
 * with SOFTSWITCH_ESL_PURE_PYTHON=1, framing.py and wire.py use their Python code, which is
 * also the reference the differential tests (tests/test_speedups.py) compare these against.
 *
 *   parse_head(head, /) -> (command: str, headers: list[tuple[str, str]], marks: int)
 *       framing.parse_head: a client's header block (a bytes-like, without its blank line)
 *       split as FreeSWITCH's read_packet does. Lines end at LF; a NUL ends its line (C
 *       strings). The command is the first line cut at its first CR. Each further line with
 *       a ':' is a header: the name is everything before the first ':' (not trimmed), the
 *       value what follows it, leading spaces (not tabs) skipped, cut at the first CR. Lines
 *       without ':' are ignored. Text is UTF-8 decoded with errors="replace". marks is the OR
 *       of framing.header_marks(name, value) over the headers.
 *
 *   plain(headers, body, framed=False, /) -> bytes
 *       The UTF-8 bytes of softswitch.event.Event._plain() for these headers and body:
 *       "name: url_encode(value)\n" per header (a list value: its one element, or
 *       "ARRAY::" + "|:".join(values)), then "Content-Length: N\n\n" + body when the body is
 *       a non-empty str (N its UTF-8 byte count), else "\n". headers: a list of (str, value)
 *       tuples, value a str or a list/tuple of str; body: str or None. Anything else is a
 *       TypeError (wire.py then falls back to Event.serialize); lone surrogates are a
 *       UnicodeEncodeError, as the Python path's encode() gives. framed: the same bytes
 *       after "Content-Length: <their length>\nContent-Type: text/event-plain\n\n", the
 *       whole Event Socket message (wire.event_message), written in one allocation.
 *
 * Why byte-level work gives the Python results exactly:
 *  - every delimiter (LF, CR, NUL, ':', ' ') is ASCII, and UTF-8 never uses ASCII bytes
 *    inside a multi-byte sequence; so splitting the bytes first and decoding each piece
 *    gives what decoding the whole block and splitting the text gives, replacement
 *    characters included (an invalid sequence never swallows the ASCII byte after it);
 *  - header_marks looks at a ']' or '_body' name, an empty name or value, an 'ARRAY::'
 *    value prefix, and names of 14 characters equal to event-subclass / content-length in
 *    lower case: all ASCII tests. str.lower() maps only two non-ASCII characters to ASCII
 *    letters (U+0130 -> "i" + U+0307, U+212A KELVIN -> "k"), neither can make these names,
 *    so a 14-byte ASCII case-insensitive compare is the same test;
 *  - url_encode (FreeSWITCH's switch_url_encode) keeps A-Z a-z 0-9 and !$'()*,-./_~, copies
 *    "%" + two of 0-9A-F as they are, and writes every other UTF-8 byte as %XX (upper-case
 *    hex). Python finds the %XX runs on the text and quote()s the rest; a run is ASCII, so
 *    scanning the UTF-8 bytes finds the same runs. An array is encoded element by element
 *    with "ARRAY%3A%3A" and "%7C%3A" between: a run cannot cross a separator, as neither
 *    '|' nor ':' is a hex digit.
 *
 * Costs. parse_head copies ASCII pieces into new str objects itself (PyUnicode_DecodeUTF8
 * takes about 250 instructions even for a short ASCII piece), looks for NUL, CR and non-ASCII
 * bytes once per block, and fills the list at its final size. plain makes two passes: the
 * first checks the types, finds the UTF-8 of each str (an ASCII str's own bytes) and the exact
 * encoded size, the second writes into the result; a value with nothing to escape is copied
 * whole. The GIL is kept: a call takes about a microsecond, and softswitch runs greenlets.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define STACK_ITEMS 64

/* ------------------------------------------------------------------------------------------ */
/* parse_head                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* framing.SPECIAL, EVENT_SUBCLASS, CONTENT_LENGTH */
#define MARK_SPECIAL 1
#define MARK_EVENT_SUBCLASS 2
#define MARK_CONTENT_LENGTH 4

static int
is_ascii(const char *s, Py_ssize_t n)
{
    const char *end = s + n;
    uint64_t acc = 0;
    for (; end - s >= 8; s += 8) {
        uint64_t word;
        memcpy(&word, s, 8);
        acc |= word;
    }
    for (; s < end; s++) {
        acc |= (unsigned char)*s;
    }
    return (acc & UINT64_C(0x8080808080808080)) == 0;
}

/* n bytes as a str: copied when ASCII (known, or checked here), else UTF-8 decoded with
 * errors="replace". PyUnicode_DecodeUTF8 costs about 250 instructions even on a short ASCII
 * piece; PyUnicode_New and a copy about a third of that. */
static PyObject *
text(const char *s, Py_ssize_t n, int ascii)
{
    PyObject *u;
    if (!ascii && !is_ascii(s, n)) {
        return PyUnicode_DecodeUTF8(s, n, "replace");
    }
    u = PyUnicode_New(n, 127);
    if (u != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(u), s, (size_t)n);
    }
    return u;
}

/* ASCII case-insensitive compare of 14 bytes with a lower-case literal. */
static int
eq_lower14(const char *s, const char *lower)
{
    for (int i = 0; i < 14; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        if (c != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return 1;
}

static long
header_marks(const char *name, Py_ssize_t nlen, const char *value, Py_ssize_t vlen)
{
    long marks = 0;
    if (nlen == 0 || vlen == 0 || name[nlen - 1] == ']'
        || memchr(name, '\r', (size_t)nlen) != NULL
        || (nlen == 5 && memcmp(name, "_body", 5) == 0)
        || (vlen >= 7 && memcmp(value, "ARRAY::", 7) == 0)) {
        marks = MARK_SPECIAL;
    }
    if (nlen == 14) {
        if (eq_lower14(name, "event-subclass")) {
            marks |= MARK_EVENT_SUBCLASS;
        }
        else if (eq_lower14(name, "content-length")) {
            marks |= MARK_CONTENT_LENGTH;
        }
    }
    return marks;
}

/* The first c in [p, end), or end. */
static const char *
find(const char *p, const char *end, int c)
{
    const char *hit = memchr(p, c, (size_t)(end - p));
    return hit != NULL ? hit : end;
}

static PyObject *
speedups_parse_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const char *data, *end, *line, *line_end, *stop;
    Py_ssize_t len, count = 0, room = STACK_ITEMS;
    PyObject *command = NULL, *headers = NULL, *marks_obj = NULL, *result = NULL;
    PyObject *stack_items[STACK_ITEMS], **items = stack_items;
    long marks = 0;
    int has_nul, has_cr, ascii;

    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError, "parse_head expected 1 argument, got %zd", nargs);
        return NULL;
    }
    if (PyBytes_CheckExact(args[0])) {
        view.obj = NULL;
        data = PyBytes_AS_STRING(args[0]);
        len = PyBytes_GET_SIZE(args[0]);
    }
    else {
        if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        data = (const char *)view.buf;
        len = view.len;
    }
    if (len == 0) {
        data = ""; /* an empty buffer's pointer may be NULL: memchr must not see it */
    }
    end = data + len;
    /* Most blocks have no NUL and no CR (LF-only clients) and are ASCII: one look at the
     * whole block each, and the per-line work skips what cannot be there. */
    has_nul = memchr(data, '\0', (size_t)len) != NULL;
    has_cr = memchr(data, '\r', (size_t)len) != NULL;
    ascii = is_ascii(data, len);

    /* the command: the first line, cut at its NUL, then at its first CR */
    line_end = find(data, end, '\n');
    stop = has_nul ? find(data, line_end, '\0') : line_end;
    command = text(data, (has_cr ? find(data, stop, '\r') : stop) - data, ascii);
    if (command == NULL) {
        goto done;
    }
    while (line_end < end) {
        const char *colon, *value, *vend;
        PyObject *name_obj, *value_obj, *pair;

        line = line_end + 1;
        line_end = find(line, end, '\n');
        stop = has_nul ? find(line, line_end, '\0') : line_end;
        colon = memchr(line, ':', (size_t)(stop - line));
        if (colon == NULL) {
            continue;
        }
        value = colon + 1;
        while (value < stop && *value == ' ') {
            value++;
        }
        vend = has_cr ? find(value, stop, '\r') : stop;
        marks |= header_marks(line, colon - line, value, vend - value);

        name_obj = text(line, colon - line, ascii);
        if (name_obj == NULL) {
            goto done;
        }
        value_obj = text(value, vend - value, ascii);
        if (value_obj == NULL) {
            Py_DECREF(name_obj);
            goto done;
        }
        pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(name_obj);
            Py_DECREF(value_obj);
            goto done;
        }
        PyTuple_SET_ITEM(pair, 0, name_obj);
        PyTuple_SET_ITEM(pair, 1, value_obj);
        if (count == room) { /* more headers than the stack holds */
            PyObject **bigger;
            room *= 4;
            if (items == stack_items) {
                bigger = PyMem_New(PyObject *, (size_t)room);
                if (bigger != NULL) {
                    memcpy(bigger, stack_items, sizeof stack_items);
                }
            }
            else {
                bigger = PyMem_Resize(items, PyObject *, (size_t)room);
            }
            if (bigger == NULL) {
                Py_DECREF(pair);
                PyErr_NoMemory();
                goto done;
            }
            items = bigger;
        }
        items[count++] = pair;
    }
    headers = PyList_New(count);
    marks_obj = PyLong_FromLong(marks);
    if (headers == NULL || marks_obj == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyList_SET_ITEM(headers, i, items[i]); /* the list takes the references */
    }
    count = 0;
    result = PyTuple_Pack(3, command, headers, marks_obj);
done:
    while (count > 0) {
        Py_DECREF(items[--count]);
    }
    if (items != stack_items) {
        PyMem_Free(items);
    }
    Py_XDECREF(command);
    Py_XDECREF(headers);
    Py_XDECREF(marks_obj);
    if (view.obj != NULL) {
        PyBuffer_Release(&view);
    }
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* plain                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Per byte: URL_SAFE for what switch_url_encode keeps (urllib.parse.quote's always-safe
 * A-Z a-z 0-9 _.-~ plus event.py's _RAW_SAFE !$'()*,/), UPPER_HEX for 0-9 A-F (the two digits
 * after a '%' that it copies as they are). */
#define URL_SAFE 1
#define UPPER_HEX 2
static const unsigned char url_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
    /* 0x80-0xFF: the bytes of non-ASCII characters, always %XX */
};

/* '%' and two upper-case hex digits at s[i]: url_encode copies them as they are */
#define PERCENT_HEX(s, i, n)                                                                   \
    ((s)[i] == '%' && (i) + 2 < (n) && (url_class[(s)[(i) + 1]] & UPPER_HEX)                   \
     && (url_class[(s)[(i) + 2]] & UPPER_HEX))

/* The length of url_encode(s): each byte it escapes becomes three. */
static Py_ssize_t
encoded_len(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0, escaped = 0;
    while (i < n) {
        if (url_class[s[i]] & URL_SAFE) {
            i++;
        }
        else if (PERCENT_HEX(s, i, n)) {
            i += 3;
        }
        else {
            escaped++;
            i++;
        }
    }
    return n + 2 * escaped;
}

/* url_encode of n UTF-8 bytes into out; returns the end of what it wrote. */
static char *
url_encode(char *out, const unsigned char *s, Py_ssize_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (url_class[c] & URL_SAFE) {
            *out++ = (char)c;
            i++;
        }
        else if (PERCENT_HEX(s, i, n)) {
            memcpy(out, s + i, 3);
            out += 3;
            i += 3;
        }
        else {
            out[0] = '%';
            out[1] = digits[c >> 4];
            out[2] = digits[c & 15];
            out += 3;
            i++;
        }
    }
    return out;
}

/* The UTF-8 of an exact str (borrowed: an ASCII str's own data, else the UTF-8 copy CPython
 * caches in the str), or NULL with an error. */
static const char *
utf8_of(PyObject *obj, Py_ssize_t *size, const char *what)
{
    if (!PyUnicode_CheckExact(obj)) {
        PyErr_Format(PyExc_TypeError, "plain: %s must be str, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    if (PyUnicode_IS_COMPACT_ASCII(obj)) {
        *size = PyUnicode_GET_LENGTH(obj);
        return (const char *)PyUnicode_1BYTE_DATA(obj);
    }
    return PyUnicode_AsUTF8AndSize(obj, size);
}

/* The elements of an array value (a list or tuple; an empty list's may be NULL): 0, or -1 with
 * a TypeError. */
static int
array_items(PyObject *value, PyObject *const **items, Py_ssize_t *count)
{
    if (PyList_CheckExact(value)) {
        *count = PyList_GET_SIZE(value);
        *items = (PyObject *const *)((PyListObject *)value)->ob_item;
        return 0;
    }
    if (PyTuple_CheckExact(value)) {
        *count = PyTuple_GET_SIZE(value);
        *items = (PyObject *const *)((PyTupleObject *)value)->ob_item;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "plain: a header value must be str or a list of str, not %.200s",
                 Py_TYPE(value)->tp_name);
    return -1;
}

/* One header, as the first pass found it. */
typedef struct {
    const char *name, *value; /* UTF-8; value NULL for an array */
    Py_ssize_t nlen, vlen;
    Py_ssize_t elen;          /* the length of the encoded value */
    PyObject *array;          /* the array value (borrowed), or NULL */
} line_t;

/* Check one header and fill in its line_t: 0, or -1 with an error. */
static int
scan_header(PyObject *h, line_t *ln)
{
    PyObject *value;
    if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) < 2) {
        PyErr_Format(PyExc_TypeError, "plain: a header must be a (name, value) tuple, not %.200s",
                     Py_TYPE(h)->tp_name);
        return -1;
    }
    ln->name = utf8_of(PyTuple_GET_ITEM(h, 0), &ln->nlen, "a header name");
    if (ln->name == NULL) {
        return -1;
    }
    if (ln->nlen > PY_SSIZE_T_MAX / 12) {
        PyErr_NoMemory();
        return -1;
    }
    value = PyTuple_GET_ITEM(h, 1);
    if (PyUnicode_CheckExact(value)) {
        ln->value = utf8_of(value, &ln->vlen, "a header value");
        if (ln->value == NULL) {
            return -1;
        }
        if (ln->vlen > PY_SSIZE_T_MAX / 12) { /* encoded, at most PY_SSIZE_T_MAX / 4 */
            PyErr_NoMemory();
            return -1;
        }
        ln->array = NULL;
        ln->elen = encoded_len((const unsigned char *)ln->value, ln->vlen);
    }
    else {
        Py_ssize_t count, elen;
        PyObject *const *items;
        if (array_items(value, &items, &count) < 0) {
            return -1;
        }
        ln->value = NULL;
        ln->vlen = 0;
        ln->array = value;
        elen = count == 1 ? 0 : 11; /* "ARRAY%3A%3A" */
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t n;
            const char *v = utf8_of(items[i], &n, "an array element");
            if (v == NULL) {
                return -1;
            }
            if (n > PY_SSIZE_T_MAX / 12) {
                PyErr_NoMemory();
                return -1;
            }
            /* "%7C%3A" before each but the first */
            elen += (i ? 6 : 0) + encoded_len((const unsigned char *)v, n);
            if (elen > PY_SSIZE_T_MAX / 4) {
                PyErr_NoMemory();
                return -1;
            }
        }
        ln->elen = elen;
    }
    return 0;
}

/* Write one header line, "name: value\n". */
static char *
write_header(char *w, const line_t *ln)
{
    memcpy(w, ln->name, (size_t)ln->nlen);
    w += ln->nlen;
    *w++ = ':';
    *w++ = ' ';
    if (ln->array == NULL) {
        if (ln->elen == ln->vlen) { /* nothing escaped: url_encode gives the value back */
            memcpy(w, ln->value, (size_t)ln->vlen);
            w += ln->vlen;
        }
        else {
            w = url_encode(w, (const unsigned char *)ln->value, ln->vlen);
        }
    }
    else {
        Py_ssize_t count;
        PyObject *const *items;
        array_items(ln->array, &items, &count); /* checked by scan_header */
        if (count != 1) {
            memcpy(w, "ARRAY%3A%3A", 11);
            w += 11;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t n;
            const char *v = utf8_of(items[i], &n, NULL); /* cached by scan_header */
            if (i) {
                memcpy(w, "%7C%3A", 6);
                w += 6;
            }
            w = url_encode(w, (const unsigned char *)v, n);
        }
    }
    *w++ = '\n';
    return w;
}

/* "Content-Length: <n><after>" into out (room for 40 + strlen(after)); returns its length.
 * By hand: snprintf costs about 1,200 instructions here, a third of the rest of the call. */
static int
content_length(char *out, Py_ssize_t n, const char *after)
{
    char digits[24];
    int nd = 0, len;
    do {
        digits[nd++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    memcpy(out, "Content-Length: ", 16);
    len = 16;
    while (nd > 0) {
        out[len++] = digits[--nd];
    }
    for (; *after; after++) {
        out[len++] = *after;
    }
    return len;
}

static PyObject *
speedups_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *headers, *body, *result = NULL;
    const char *body_utf8 = NULL;
    Py_ssize_t nheaders, size = 0, body_len = 0;
    line_t stack_lines[STACK_ITEMS], *lines = stack_lines;
    char length_text[48], frame_text[96], *w;
    int length_len = 0, frame_len = 0, framed = 0;

    if (nargs != 2 && nargs != 3) {
        PyErr_Format(PyExc_TypeError, "plain expected 2 or 3 arguments, got %zd", nargs);
        return NULL;
    }
    headers = args[0];
    body = args[1];
    if (nargs == 3) {
        framed = PyObject_IsTrue(args[2]);
        if (framed < 0) {
            return NULL;
        }
    }
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "plain: headers must be a list, not %.200s",
                     Py_TYPE(headers)->tp_name);
        return NULL;
    }
    if (body != Py_None) {
        body_utf8 = utf8_of(body, &body_len, "the body");
        if (body_utf8 == NULL) {
            return NULL;
        }
        if (body_len > PY_SSIZE_T_MAX / 4) {
            return PyErr_NoMemory();
        }
    }
    /* First pass: types, UTF-8 and the exact size. Nothing from here on runs Python code, so
     * the list and its items cannot change under the second pass. */
    nheaders = PyList_GET_SIZE(headers);
    if (nheaders > STACK_ITEMS) {
        lines = PyMem_New(line_t, (size_t)nheaders);
        if (lines == NULL) {
            return PyErr_NoMemory();
        }
    }
    for (Py_ssize_t i = 0; i < nheaders; i++) {
        line_t *ln = &lines[i];
        if (scan_header(PyList_GET_ITEM(headers, i), ln) < 0) {
            goto done;
        }
        /* each part is at most PY_SSIZE_T_MAX / 4: the sum of two cannot overflow */
        size += ln->nlen + ln->elen + 3; /* ": " and "\n" */
        if (size > PY_SSIZE_T_MAX / 4) {
            PyErr_NoMemory();
            goto done;
        }
    }
    if (body_len > 0) {
        length_len = content_length(length_text, body_len, "\n\n");
        size += length_len + body_len;
    }
    else {
        size += 1; /* "\n" */
    }
    if (framed) {
        frame_len = content_length(frame_text, size, "\nContent-Type: text/event-plain\n\n");
    }
    result = PyBytes_FromStringAndSize(NULL, frame_len + size);
    if (result == NULL) {
        goto done;
    }
    w = PyBytes_AS_STRING(result);
    memcpy(w, frame_text, (size_t)frame_len);
    w += frame_len;
    for (Py_ssize_t i = 0; i < nheaders; i++) {
        w = write_header(w, &lines[i]);
    }
    if (body_len > 0) {
        memcpy(w, length_text, (size_t)length_len);
        memcpy(w + length_len, body_utf8, (size_t)body_len);
    }
    else {
        *w = '\n';
    }
done:
    if (lines != stack_lines) {
        PyMem_Free(lines);
    }
    return result;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef speedups_methods[] = {
    {"parse_head", (PyCFunction)(void (*)(void))speedups_parse_head, METH_FASTCALL,
     "parse_head($module, head, /)\n--\n\n"
     "framing.parse_head in C: a header block (bytes-like) -> (command, [(name, value)...],\n"
     "marks)."},
    {"plain", (PyCFunction)(void (*)(void))speedups_plain, METH_FASTCALL,
     "plain($module, headers, body, framed=False, /)\n--\n\n"
     "The UTF-8 bytes of Event._plain() for these headers ([(str, str | list[str])...])\n"
     "and body (str or None); framed: after 'Content-Length: N\\nContent-Type:\n"
     "text/event-plain\\n\\n', as the Event Socket sends it."},
    {NULL, NULL, 0, NULL},
};

/* No Py_mod_gil slot: plain() reads the list's items, borrowed, in two passes and relies on
 * the GIL to keep the list as it is in between (a free-threaded build enables the GIL). */
static struct PyModuleDef_Slot speedups_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mod_event_socket._speedups",
    .m_doc = "Optional C versions of framing.parse_head and of Event._plain for the wire.",
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
