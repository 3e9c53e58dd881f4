/* Types shared by the dedup_cu*.c files, as a project's headers would be. */
/* Fixed-size integers without libc headers, so that clang -target bpf compiles it too. */
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;

struct dd_sock;                      /* completed only in dedup_cu2.c */
union dd_addr;                       /* completed only in dedup_cu3.c */
enum dd_later;                       /* an enum forward declaration */

struct dd_list {
	struct dd_list *next, *prev;     /* a cycle through pointers */
};

enum dd_small { DD_S0, DD_S1 } __attribute__((packed));          /* 1 byte */
enum dd_short { DD_H0 = 0x100, DD_H1 = 0x7fff };                 /* 4 bytes, values fit in 16 */
enum dd_neg { DD_N0 = -1, DD_N1 = 5 };
enum dd_big { DD_B0 = 0x100000000ULL, DD_B1 };                   /* 64-bit: ENUM64 */
enum dd_bigneg { DD_BN0 = -0x100000000LL, DD_BN1 = 1 };

typedef int (*dd_handler_t)(struct dd_sock *sk, const void *buf, unsigned long len);

struct dd_ops {
	dd_handler_t recv;
	void (*close)(struct dd_sock *sk);
	int (*ioctl)(struct dd_sock *, unsigned int cmd, ...);
};

struct dd_flags {
	unsigned int a : 3, b : 5;
	int c : 7;
	uint64_t d : 40;
	unsigned char e;
};

struct dd_node {
	struct dd_list link;
	union {                          /* anonymous members */
		struct { uint32_t lo, hi; };
		uint64_t all;
	};
	struct dd_flags flags;
	enum dd_small small;
	enum dd_big big;
	const volatile int *cv;
	char name[16];
	int matrix[2][3];
	struct dd_sock *owner;           /* FWD in CUs that never see the definition */
	union dd_addr *addr;
	enum dd_later *later;
	const struct dd_ops *ops;
	struct dd_node *children[4];
};

int dd_node_count(struct dd_node *n);
