/* C dumper test input: layout (bitfields, holes, packing, alignment). */

struct bits {
	unsigned a : 3;
	unsigned b : 5;
	int c : 7;
	unsigned long d : 40;
	char e;
	unsigned f : 1;
};

struct holes {
	char c;
	long l;
	char c2;
	int i;
	short s;
};

struct __attribute__((packed)) packed1 {
	char c;
	int i;
	short s;
};

struct packed_bits {
	char c;
	unsigned x : 4;
	unsigned y : 20;
} __attribute__((packed));

struct __attribute__((aligned(16))) aligned16 {
	int a;
};

struct member_aligned {
	char c;
	int x __attribute__((aligned(8)));
	char d;
};

struct tail_pad {
	long l;
	char c;
};

struct zero_width {
	int a : 4;
	int : 0;
	int b : 4;
	char : 0;
	char c;
};

struct big_gap {
	char c;
	char arr[3] __attribute__((aligned(64)));
	short s;
};

union u_bits {
	unsigned a : 3;
	int b;
	char c[5];
};

struct empty_s {
};

struct with_empty {
	int x;
	struct empty_s e;
	int y;
};

struct packed_in_aligned {
	char c;
	struct packed1 p;
	long l;
};

struct __attribute__((packed, aligned(4))) pa4 {
	char c;
	int i;
};

struct bf_cross {
	unsigned long a : 60;
	unsigned long b : 10;
	unsigned char c : 3;
};

struct bf_holes {
	char c;
	unsigned long x : 3;
	long gap_after;
	unsigned int y : 1;
};

struct mixed {
	struct bits b;
	union u_bits u;
	struct holes h[2];
	char tail;
} __attribute__((aligned(32)));

struct bits g_bits;
struct holes g_holes;
struct packed1 g_packed1;
struct packed_bits g_packed_bits;
struct aligned16 g_aligned16;
struct member_aligned g_member_aligned;
struct tail_pad g_tail_pad;
struct zero_width g_zero_width;
struct big_gap g_big_gap;
union u_bits g_u_bits;
struct with_empty g_with_empty;
struct packed_in_aligned g_packed_in_aligned;
struct pa4 g_pa4;
struct bf_cross g_bf_cross;
struct bf_holes g_bf_holes;
struct mixed g_mixed;
