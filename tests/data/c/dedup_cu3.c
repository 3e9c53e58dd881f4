#include "dedup_shared.h"

union dd_addr {
	uint32_t v4;
	uint8_t v6[16];
	struct { uint16_t family; uint16_t port; } hdr;
};

union dd_addr dd_any;

struct dd_pair {                     /* two identical anonymous structs in one CU */
	struct { int x, y; } a;
	struct { int x, y; } b;
};

struct dd_pair dd_pair0;

long dd_addr_sum(union dd_addr *a, struct dd_node *n)
{
	return a->v4 + a->hdr.port + n->matrix[1][2] + dd_pair0.a.x + dd_pair0.b.y;
}
