"""What helps write a batch and what it declares: a new batch's files, drafted rollbacks, the
app's top queries found or declared, what the SQL adds, the lock plan, the size limits."""
