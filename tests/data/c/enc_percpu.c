/* Variables in a .data..percpu section, which pahole 1.24 turns into VARs and a DATASEC in any
 * object: located by DW_OP_addr (gcc, DWARF 4) or DW_OP_addrx (clang, DWARF 5). */
struct pc_s { long a; int b[3]; };
__attribute__((section(".data..percpu"))) struct pc_s pc_one;
__attribute__((section(".data..percpu"))) static int pc_two = 2;
__attribute__((section(".data..percpu"))) long pc_three[4];
int not_percpu;
int pc_use(void) { return pc_two + pc_one.b[1] + (int)pc_three[2] + not_percpu; }
