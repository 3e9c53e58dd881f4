/* Types shared by enc_link_a.c and enc_link_b.c (btfkit link tests). */
/* No libc headers, so that clang -target bpf can compile it too. */
typedef __INT16_TYPE__ int16_t;
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;

enum enc_kind { ENC_NONE, ENC_ONE = 1, ENC_BIG = 1000 };

struct enc_point { int16_t x, y; };

struct enc_node {
	struct enc_node *next;
	struct enc_point pts[3];
	union {
		uint64_t u;
		double d;
		char bytes[8];
	} val;
	enum enc_kind kind;
	uint8_t small;
	uint32_t packed_like;
	struct { int inner_a; long inner_b; } anon_named;
	void (*cb)(struct enc_node *, int);
	const char *name;
};

typedef struct enc_node enc_node_t;

struct enc_list {
	enc_node_t *head;
	unsigned long count;
	int matrix[2][5];
	struct enc_list *self;
};

struct enc_only_b { long long big; char tail; };
