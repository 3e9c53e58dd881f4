/* A BPF program with the data sections libbpf lays out when it opens an object:
 * .bss, .data, .rodata, a custom .data.* section, a hidden global, a static variable,
 * and chars of each signedness (gcc's encoding of char). */
#define SEC(name) __attribute__((section(name), used))

struct pair { int a; signed char b; };

int counter;                                    /* .bss */
signed char small_signed;
char plain_char;
unsigned char small_unsigned;
struct pair pairs[3];
int data_value = 5;                             /* .data */
const volatile int config_value = 3;            /* .rodata (gcc: .data) */
__attribute__((visibility("hidden"))) int hidden_value = 7;
SEC(".data.custom") long custom_value = 11;
static volatile int static_value = 13;

static int helper(int x) { return x + counter + static_value; }

SEC("tp/sched/sched_switch") int prog(void *ctx)
{
	return helper(data_value) + config_value + small_signed + plain_char + small_unsigned
	       + pairs[1].b + hidden_value + (int)custom_value;
}

char LICENSE[] SEC("license") = "GPL";
