import Link from "next/link";

export default function NotFound() {
  return (
    <div className="notice notice-warn" role="alert" data-testid="page-not-found">
      <strong>Page not found.</strong> <Link href="/">Go to your VMs</Link>
    </div>
  );
}
