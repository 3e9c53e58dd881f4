/* C dumper test input: enums of unusual sizes.  libbpf 1.1 writes them without
 * size attributes, so this file is only checked for bpftool identity and
 * compilation, not for layout. */

enum __attribute__((packed)) small_e { S1, S2 };
enum __attribute__((packed)) short_e { H1 = 300 };
enum neg64 { N64 = -0x100000000LL, P64 = 1 };
enum u64max { UMAX = 0xffffffffffffffffULL };

struct enum_holder {
	enum small_e s;
	enum short_e h;
	enum neg64 n;
	enum u64max u;
};

struct enum_holder g_enum_holder;
