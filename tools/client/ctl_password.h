/* Random recovery passwords, for the canary and benchmark keys escrowctl sends. */
#ifndef ESCROW_CTL_PASSWORD_H
#define ESCROW_CTL_PASSWORD_H

#define CTL_PASSWORD_SIZE 56 /* a recovery password and its NUL */

/* A valid random recovery password: 8 blocks of (random 16-bit value * 11).
 * ESC_OK, or ESC_EIO when the kernel gives no randomness. */
int ctl_random_password(char out[CTL_PASSWORD_SIZE]);

#endif
