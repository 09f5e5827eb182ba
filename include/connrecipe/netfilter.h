#ifndef CONNRECIPE_NETFILTER_H
#define CONNRECIPE_NETFILTER_H

/* Whether the calling thread's network namespace has an nftables chain of
 * type nat: the only place a dnat or redirect statement (or iptables-nft's
 * DNAT) can be. Asked over NFNETLINK as nft does (CAP_NET_ADMIN needed).
 * Returns 1 (at least one), 0 (none: the whole dump was read) or -errno
 * (cannot tell: no permission, nf_tables not loaded, interrupted dump). */
int cr_nft_has_nat_chain(void);

#endif
