#include "dedup_shared.h"

struct dd_node dd_root;
enum dd_short dd_mode = DD_H1;
enum dd_neg dd_neg_default = DD_N0;

static int cu1_recv(struct dd_sock *sk, const void *buf, unsigned long len)
{
	return (int)len + (sk != 0) + (buf != 0);
}

const struct dd_ops dd_cu1_ops = { .recv = cu1_recv };

int dd_node_count(struct dd_node *n)
{
	int c = 0;
	for (struct dd_list *l = n->link.next; l && l != &n->link; l = l->next)
		c++;
	return c + n->flags.a + n->small + (int)n->big;
}
