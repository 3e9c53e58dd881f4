/* C dumper test input: clashing names in different scopes get ___N suffixes. */

struct dup {
	int a;
};
enum dupe { ONE, TWO };
typedef int dup_t;
typedef struct dup dup;

struct dup g_dup;
enum dupe g_dupe;
dup_t g_dup_t;
dup g_dup_td;

int f1(void)
{
	struct dup {
		long b;
		char c;
	} x = { 0 };
	enum dupe { ONE, THREE } e = THREE;
	typedef long dup_t;
	dup_t y = 1;
	union dupe_u {
		int i;
	} u = { 0 };
	return (int)x.b + e + (int)y + u.i;
}

int f2(void)
{
	struct dup {
		short s;
	} x = { 0 };
	enum { ONE, TWO, THREE, FOUR } e = FOUR;
	union dupe_u {
		char c;
		struct dup *back;
	} u = { 0 };
	return x.s + e + u.c;
}
