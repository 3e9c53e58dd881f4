/* Every construct pahole encodes, for btfkit's DWARF encoder tests. */
#include <stddef.h>
#include <stdbool.h>

typedef unsigned long long u64_t;
typedef int (*handler_t)(void *ctx, const char *fmt, ...);

enum color { RED, GREEN = 5, BLUE = -3 };
enum big { BIG_LOW = 1, BIG_HIGH = 0x123456789ULL };
enum neg64 { N64_MIN = -0x7fffffffffffffffLL - 1, N64_ONE = 1 };
enum small_enum { SMALL_A = 1 } __attribute__((packed));
/* unsigned, with a value whose top bit is set (wireguard's enum limits): ENUM64 unsigned */
enum u64_top { U64_TOP = 0xffffffffffffe03eULL, U64_ONE = 1 };
enum fwd_enum;

struct fwd_only;
union fwd_union;

struct bits {
	unsigned int a : 1, b : 7, c : 24;
	signed char d : 3;
	unsigned long long e : 40;
	int : 0;
	short f;
	bool g : 1;
	enum color col : 4;
};

struct inner {
	int x;
	struct {
		char tag;
		union {
			long l;
			double dbl;
		};
	};
	struct fwd_only *fo;
	union fwd_union *fu;
};

struct outer {
	const volatile int cv;
	int *restrict rp;
	char name[16];
	int matrix[3][4][2];
	struct inner in;
	struct inner *arr_of_ptrs[4];
	handler_t h;
	void (*cb)(struct outer *, int);
	float f;
	double d;
	long double ld;
	_Bool flag;
	u64_t big;
	__int128 wide;
	unsigned __int128 uwide;
	enum color color;
	enum big bigv;
	enum neg64 n64;
	enum small_enum se;
	enum u64_top top;
	enum fwd_enum *fe;
	size_t sz;
	char flex[];
};

union un {
	int i;
	float f;
	struct bits b;
};

struct outer global_outer;
union un global_un;
struct bits global_bits;
const char *const names[] = { "a", "b" };
static int static_counter;
_Thread_local int tls_var;

int varargs_fn(int n, ...)
{
	return n + static_counter;
}

static int __attribute__((noinline)) static_fn(struct outer *o, union un *u)
{
	return o->cv + u->i;
}

int kr_style();
int kr_style(a) int a; { return a; }

void takes_array(int a[10], int (*fp)(int), struct bits b)
{
	static_counter += a[0] + fp(b.a);
}

int uses_all(struct outer *o, union un *u, enum color c, bool flag)
{
	struct local_s { int q; char r; } ls = { 1, 2 };
	typedef struct local_s local_t;
	local_t lt = ls;
	return static_fn(o, u) + c + flag + lt.q + varargs_fn(1, 2) + kr_style(3) + (int)sizeof(global_bits);
}

static inline int inline_only(int x) { return x * 2; }

int calls_inline(int y) { return inline_only(y) + inline_only(y + 1); }
