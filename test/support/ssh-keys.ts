/** SSH public keys made with ssh-keygen (OpenSSH 9.2) for tests; the fingerprints are what `ssh-keygen -lf` printed. */
export const KEYS = {
  ed25519: {
    line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPtOmyaKRtaFUJY3gYMLwwfYF5Q0beE+E+dtp53mrica alice@laptop",
    bits: 256,
    fingerprint: "SHA256:Ma4jVWSG+cPxna43JLboFPUMLRIBr3S8oAw2HJ4GIGY",
  },
  rsa2048: {
    line: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDGfXWHp+H5koXi2vjPQB3VfNAnmCG1bc5h9Ik249LuAG0VZnYmTnJYfkMyhmIAkG8eGyhLQfA6HrCKPlYXYsuY3zPKGxiTLLqNwDqKfp1oj4dhTGRF6NgVdkiMAVD9iTpwgfhz67LkKeZ5Y6n3vIe8XALiOOrqj8GE7j3xepj0fWswJQj3ty5BZWUb1z5vcxulbScNLjwBmtDdRS/N+XIF9TqIEAWRZD2hi0UqocIO5uQLKklN4cKt447apYNMpE8/XtHGDMg5bT4Q3Ww9ScgvrUOi9vqm18E47hBTL87thDSl1pjGKdznodPkwd+YetA/qcxn/IEhnZsXdls8h6Jx rsa2048",
    bits: 2048,
    fingerprint: "SHA256:POS3rhVdK/oU9g1cK08MMmOknLsyPKSjjhuijexIcng",
  },
  nistp256: {
    line: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAHmCnbGyauVXYUs8ATYeHQmWXA8G6M7LdzJSXOAP8//EQDJ/OhN2/DiKfVmsg3YBHIUwMu1tcIlUlpD7C8zmZ8= e256",
    bits: 256,
    fingerprint: "SHA256:7pswcwNVSdo4obl5Cf5dH1DrXnxq31NiTbufouyj/Nc",
  },
  nistp384: {
    line: "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBFxkytMSnQtO5scEaJHYCCV6q6JDuwpwcxQBBZY5WQXs5GysoGYNLOJhzYCa7ggxKvhAxVXfxvag3i/F9r5H3F6xIgvLX+CVAE93u42wUEjrR7oGL/9aBTGAO7GjuCq1Rg== e384",
    bits: 384,
    fingerprint: "SHA256:2hESb13GmecLnHXg5rHMBylXCLzSxHw28VPUB5kcwDs",
  },
  nistp521: {
    line: "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAAdlcDrtEGsb9wbuXgxYbemzXO3XtUiD7Ms67g4Ai6pN1S+/psLXO8SQ7TQATtLj8EJ2LB6GWy1KYIYoiNqinpBxACmk5VOg7ycRQlSmJmMr8/T9l+QaSAsvjHWiFIs6r6S9hahkops+9BlQmIyWsnA9L+JtWb/S6h00zVIyYGgopck5Q== e521",
    bits: 521,
    fingerprint: "SHA256:+sk2NHBkL2v3G0s202xM3LJeXJkyxpx7hwJbdnBbQhg",
  },
} as const;
