#include "dedup_shared.h"

struct dd_sock {                     /* completes the forward declaration */
	struct dd_node *node;
	struct dd_sock *peer;
	const struct dd_ops *ops;
	uint16_t port;
	enum dd_bigneg mode;
};

enum dd_later { DD_L0, DD_L1 = 7 };

struct dd_sock dd_sock0;
enum dd_later dd_later_value = DD_L1;

int dd_sock_close(struct dd_sock *sk)
{
	if (sk->ops && sk->ops->close)
		sk->ops->close(sk);
	return dd_node_count(sk->node) + sk->port;
}
